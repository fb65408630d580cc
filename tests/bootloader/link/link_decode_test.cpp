// The link decoder as a trust boundary (issue 18, decision 0078): every
// message the link carries decodes; nesting, sequence sizes and types that no
// app host may send are refused with the reason, without recursing or
// allocating what the payload announces.
#include <random>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "link/link.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/runtime/config/config.hpp"

namespace ml = myelin::bootloader::link;

namespace {

struct link_decode : ::testing::Test {
  link_decode() { ml::register_types(cfg); }
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys_ptr;
  caf::actor_system& sys() {
    if (!sys_ptr) {
      sys_ptr = std::make_unique<caf::actor_system>(cfg);
    }
    return *sys_ptr;
  }

  std::vector<char> payload(const caf::message& msg) {
    auto frame = ml::encode(sys(), msg);
    EXPECT_TRUE(frame);
    return frame ? std::vector<char>(frame->begin() + 4, frame->end()) : std::vector<char>{};
  }

  std::string refusal(const std::vector<char>& p, const ml::decode_limits& l = {}) {
    auto r = ml::decode(sys(), p, l);
    return r ? std::string{"decoded"} : myelin::runtime::describe(r.error());
  }
};

}  // namespace

TEST_F(link_decode, what_the_link_carries_round_trips) {
  auto request = caf::make_message(caf::atom("kvput"), std::string{"app.x.k"}, std::string{"v"});
  for (const auto& m :
       {caf::make_message(ml::hello_atom::value, std::string{"/m.so"}, std::string{"start"}),
        caf::make_message(ml::pong_atom::value, uint64_t{7}),
        caf::make_message(ml::reply_atom::value, uint64_t{1}, true, std::string{"hi"}),
        caf::make_message(ml::request_atom::value, uint64_t{2}, caf::atom("kv"), request),
        caf::make_message(ml::subscribe_atom::value, uint64_t{3}, uint64_t{4}, caf::atom("ue"),
                          caf::make_message(std::vector<std::string>{"a", "b"})),
        caf::make_message(myelin::runtime::kv_map{{"a", "1"}, {"b", "2"}})}) {
    auto p = payload(m);
    auto r = ml::decode(sys(), p);
    ASSERT_TRUE(r) << myelin::runtime::describe(r.error()) << " for " << to_string(m);
    EXPECT_EQ(to_string(*r), to_string(m));
  }
}

TEST_F(link_decode, nesting_is_bounded_without_recursing) {
  // CAF flattens make_message(message): write the levels by hand, as a
  // hostile app host would. One level: type number 0, the type token.
  std::string token = "@<>+@message";
  std::vector<char> level{0, 0, static_cast<char>(token.size())};
  level.insert(level.end(), token.begin(), token.end());
  auto inner = payload(caf::message{});
  // Within the limit: decodes.
  std::vector<char> p;
  for (int i = 0; i < 3; ++i) {
    p.insert(p.end(), level.begin(), level.end());
  }
  p.insert(p.end(), inner.begin(), inner.end());
  EXPECT_EQ(refusal(p), "decoded");
  // 250,000 deep (what made myelin-boot crash with SIGSEGV): refused at 5.
  p.clear();
  for (int i = 0; i < 250000; ++i) {
    p.insert(p.end(), level.begin(), level.end());
  }
  p.insert(p.end(), inner.begin(), inner.end());
  EXPECT_NE(refusal(p).find("nested deeper than 4"), std::string::npos) << refusal(p);
}

TEST_F(link_decode, announced_sizes_are_checked_before_allocating) {
  auto list = payload(caf::make_message(std::vector<std::string>{"x"}));
  // The element count is the varbyte right after the type token; say 2^31.
  auto token = std::string{"@<>+@strvec"};
  auto pos = std::search(list.begin(), list.end(), token.begin(), token.end());
  ASSERT_NE(pos, list.end());
  std::vector<char> lie(list.begin(), pos + static_cast<long>(token.size()));
  for (char c : {'\x80', '\x80', '\x80', '\x80', '\x08'}) {
    lie.push_back(c);
  }
  EXPECT_NE(refusal(lie).find("a sequence of 2147483648 elements"), std::string::npos)
      << refusal(lie);
  // A string longer than the limit.
  ml::decode_limits small;
  small.max_sequence = 1000;
  EXPECT_NE(refusal(payload(caf::make_message(std::string(2000, 's'))), small)
                .find("a sequence of 2000 elements (limit 1000"),
            std::string::npos);
  EXPECT_EQ(refusal(payload(caf::make_message(std::string(999, 's'))), small), "decoded");
}

TEST_F(link_decode, handles_and_system_messages_are_refused) {
  for (const auto& type : {"@actor", "@addr", "@node", "@strong_actor_ptr", "@exit", "@down",
                           "@group", "@upstream_msg"}) {
    std::vector<char> p;
    caf::binary_serializer sink{sys(), p};
    uint16_t zero = 0;
    std::string name = std::string{"@<>+@u64+"} + type;
    sink.begin_object(zero, name);
    p.resize(p.size() + 64, '\0');
    EXPECT_NE(refusal(p).find(std::string{"type '"} + type + "' is not allowed"), std::string::npos)
        << type << ": " << refusal(p);
  }
}

TEST_F(link_decode, truncated_and_trailing_bytes_are_refused) {
  auto p =
      payload(caf::make_message(ml::reply_atom::value, uint64_t{1}, true, std::string{"hello"}));
  for (size_t cut = 0; cut < p.size(); ++cut) {
    std::vector<char> t(p.begin(), p.begin() + static_cast<long>(cut));
    EXPECT_NE(refusal(t), "decoded") << "cut at " << cut;
  }
  p.push_back('x');
  EXPECT_NE(refusal(p).find("trailing bytes"), std::string::npos);
}

// A mutation run (libFuzzer cannot take CAF here: the fuzz targets are built
// by clang without it): 200,000 payloads made from the link's real messages
// by flipping, cutting, repeating and splicing bytes decode or are refused —
// never a crash, never unbounded work (the run is timed by CTest).
TEST_F(link_decode, mutated_payloads_decode_or_are_refused) {
  std::vector<std::vector<char>> seeds;
  auto request = caf::make_message(caf::atom("kvput"), std::string{"k"}, std::string{"v"});
  for (const auto& m :
       {caf::make_message(ml::hello_atom::value, std::string{"/m.so"}, std::string{"start"}),
        caf::make_message(ml::request_atom::value, uint64_t{2}, caf::atom("kv"), request),
        caf::make_message(ml::subscribe_atom::value, uint64_t{3}, uint64_t{4}, caf::atom("ue"),
                          caf::make_message(std::vector<std::string>{"a", "b"})),
        caf::make_message(myelin::runtime::kv_map{{"a", "1"}})}) {
    seeds.push_back(payload(m));
  }
  std::mt19937 rng{1818};
  size_t decoded = 0;
  size_t refused = 0;
  for (int i = 0; i < 200000; ++i) {
    auto p = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !p.empty(); ++e) {
      auto at = rng() % p.size();
      switch (rng() % 4) {
        case 0:
          p[at] = static_cast<char>(p[at] ^ (1 << (rng() % 8)));
          break;
        case 1:
          p.resize(at);
          break;
        case 2:
          p.insert(p.begin() + static_cast<long>(at), p.begin(),
                   p.begin() + static_cast<long>(std::min<size_t>(at, 64)));
          break;
        default:
          p[at] = static_cast<char>(rng());
          break;
      }
    }
    auto r = ml::decode(sys(), p);
    (r ? decoded : refused) += 1;
  }
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(decoded + refused, 200000u);
}
