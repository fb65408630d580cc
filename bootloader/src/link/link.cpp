// Framing and serialization of the app-host link.
#include "link/link.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/deserializer.hpp>
#include <caf/sec.hpp>

#include <string>
#include <string_view>

#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/uevent.hpp"

namespace myelin::bootloader::link {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<runtime::kv_map>("myelin::kv_map");
  cfg.add_message_type<std::vector<std::string>>("myelin::string_list");
  cfg.add_message_type<runtime::firmware_status>("myelin::firmware_status");
  cfg.add_message_type<runtime::serial_result>("myelin::serial_result");
  cfg.add_message_type<actors::kv_status>("myelin::kv_status");
  // kv_map is also net_properties (the same std::map type).
  cfg.add_message_type<actors::uevent_notice>("myelin::uevent_notice");
  cfg.add_message_type<actors::uevent_stats>("myelin::uevent_stats");
  cfg.add_message_type<actors::uevent_snapshot>("myelin::uevent_snapshot");
  cfg.add_message_type<actors::net_status>("myelin::net_status");
  cfg.add_message_type<runtime::property_change>("myelin::property_change");
}

caf::expected<std::vector<char>> encode(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> frame(4, '\0');
  caf::binary_serializer sink{sys, frame};
  if (auto err = sink(const_cast<caf::message&>(msg))) {
    return err;
  }
  auto size = frame.size() - 4;
  if (size > max_payload) {
    return caf::make_error(caf::sec::invalid_argument, "link message too large");
  }
  for (int i = 0; i < 4; ++i) {
    frame[static_cast<size_t>(i)] = static_cast<char>((size >> (8 * i)) & 0xFF);
  }
  return frame;
}

uint32_t payload_size(const char* header) {
  uint32_t size = 0;
  for (int i = 0; i < 4; ++i) {
    size |= static_cast<uint32_t>(static_cast<unsigned char>(header[i])) << (8 * i);
  }
  return size;
}

namespace {

/// The value types a link message may hold: CAF's value builtins and
/// myelin's registered types. No handles (actors, addresses, nodes, groups)
/// and no system or stream messages: an app host has no business sending
/// those, and decoding them touches the middleman's proxy registry.
bool allowed_type(std::string_view name) {
  static constexpr std::string_view builtins[] = {
      "@atom",     "@i8",       "@i16",       "@i32",     "@i64",    "@u8",      "@u16",  "@u32",
      "@u64",      "@str",      "@strvec",    "@strmap",  "@strset", "@message", "@unit", "@error",
      "@duration", "@timespan", "@timestamp", "@charbuf", "bool",    "double",   "float"};
  for (auto b : builtins) {
    if (name == b) {
      return true;
    }
  }
  return name.rfind("myelin::", 0) == 0;
}

caf::error violation(std::string why) {
  return caf::make_error(caf::sec::invalid_argument, std::move(why));
}

/// A binary_deserializer bounded by decode_limits: every call of the CAF
/// inspection code goes through here (nested messages included), so depth,
/// sequence sizes and types are checked before anything is built.
class bounded_source final : public caf::deserializer {
 public:
  bounded_source(caf::actor_system& sys, const char* data, size_t size, const decode_limits& l)
      : caf::deserializer(sys), inner_(sys, data, size), limits_(l) {}

  size_t remaining() const { return inner_.remaining(); }

  caf::error begin_object(uint16_t& typenr, std::string& name) override {
    if (failure_) {
      return failure_;
    }
    if (++depth_ > limits_.max_depth) {
      return fail(violation("a message nested deeper than " + std::to_string(limits_.max_depth)));
    }
    if (auto err = inner_.begin_object(typenr, name)) {
      return fail(std::move(err));
    }
    // A message's type token: "@<>" or "@<>+T1+T2...".
    if (name.rfind("@<>", 0) == 0) {
      std::string_view rest{name};
      rest.remove_prefix(3);
      while (!rest.empty()) {
        rest.remove_prefix(1);  // '+'
        auto end = rest.find('+');
        auto type = rest.substr(0, end);
        if (!allowed_type(type)) {
          return fail(violation("type '" + std::string{type.substr(0, 64)} + "' is not allowed"));
        }
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
      }
    }
    return {};
  }

  caf::error end_object() override {
    --depth_;
    return inner_.end_object();
  }

  caf::error begin_sequence(size_t& n) override {
    if (failure_) {
      return failure_;
    }
    if (auto err = inner_.begin_sequence(n)) {
      return fail(std::move(err));
    }
    // Every element takes a byte at least: more than what is left is a lie.
    if (n > limits_.max_sequence || n > inner_.remaining()) {
      return fail(violation("a sequence of " + std::to_string(n) + " elements (limit " +
                            std::to_string(limits_.max_sequence) + ", " +
                            std::to_string(inner_.remaining()) + " bytes left)"));
    }
    elements_ += n;
    if (elements_ > limits_.max_elements) {
      return fail(violation("more than " + std::to_string(limits_.max_elements) + " elements"));
    }
    return {};
  }

  caf::error end_sequence() override { return inner_.end_sequence(); }

  caf::error apply_raw(size_t num_bytes, void* data) override {
    return checked(inner_.apply_raw(num_bytes, data));
  }

  /// The first error of the decoding: CAF 0.17's message loading drops
  /// some errors of its source (an empty or truncated payload "decodes"),
  /// so decode() asks here instead of trusting the returned error.
  const caf::error& failure() const { return failure_; }

 protected:
  caf::error apply_impl(int8_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(uint8_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(int16_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(uint16_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(int32_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(uint32_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(int64_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(uint64_t& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(float& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(double& x) override { return checked(inner_.apply(x)); }
  caf::error apply_impl(long double& x) override { return checked(inner_.apply(x)); }
  // Strings: their size goes through begin_sequence here, so it is bounded
  // like any sequence before a byte is copied.
  caf::error apply_impl(std::string& x) override { return read_chars(x); }
  caf::error apply_impl(std::u16string&) override { return fail(violation("a UTF-16 string")); }
  caf::error apply_impl(std::u32string&) override { return fail(violation("a UTF-32 string")); }

 private:
  caf::error fail(caf::error err) {
    if (!failure_) {
      failure_ = std::move(err);
    }
    return failure_;
  }

  caf::error checked(caf::error err) {
    if (failure_) {
      return failure_;
    }
    return err ? fail(std::move(err)) : caf::error{};
  }

  caf::error read_chars(std::string& x) {
    size_t n = 0;
    if (auto err = begin_sequence(n)) {
      return err;
    }
    x.resize(n);
    if (n > 0) {
      if (auto err = checked(inner_.apply_raw(n, &x[0]))) {
        return err;
      }
    }
    return end_sequence();
  }

  caf::binary_deserializer inner_;
  decode_limits limits_;
  caf::error failure_;
  size_t depth_ = 0;
  size_t elements_ = 0;
};

}  // namespace

caf::expected<caf::message> decode(caf::actor_system& sys, const std::vector<char>& payload,
                                   const decode_limits& limits) {
  return decode(sys, payload.data(), payload.size(), limits);
}

caf::expected<caf::message> decode(caf::actor_system& sys, const char* data, size_t size,
                                   const decode_limits& limits) {
  bounded_source source{sys, data, size, limits};
  caf::message msg;
  auto err = source(msg);
  if (source.failure()) {
    return source.failure();
  }
  if (err) {
    return err;
  }
  if (size == 0) {
    return caf::make_error(caf::sec::invalid_argument, "an empty link message");
  }
  if (source.remaining() != 0) {
    return caf::make_error(caf::sec::invalid_argument, "trailing bytes after a link message");
  }
  return msg;
}

}  // namespace myelin::bootloader::link
