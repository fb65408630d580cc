// Framing and serialization of the app-host link.
#include "link.hpp"

#include <sys/socket.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/sec.hpp>

#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"

namespace myelin::bootloader::link {

void register_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<runtime::kv_map>("myelin::kv_map");
  cfg.add_message_type<std::vector<std::string>>("myelin::string_list");
  cfg.add_message_type<runtime::firmware_status>("myelin::firmware_status");
  cfg.add_message_type<runtime::serial_result>("myelin::serial_result");
  cfg.add_message_type<actors::kv_status>("myelin::kv_status");
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

caf::expected<caf::message> decode(caf::actor_system& sys, const std::vector<char>& payload) {
  return decode(sys, payload.data(), payload.size());
}

caf::expected<caf::message> decode(caf::actor_system& sys, const char* data, size_t size) {
  caf::binary_deserializer source{sys, data, size};
  caf::message msg;
  if (auto err = source(msg)) {
    return err;
  }
  if (source.remaining() != 0) {
    return caf::make_error(caf::sec::invalid_argument, "trailing bytes after a link message");
  }
  return msg;
}

void frame_reader::start(caf::io::broker* self, caf::io::connection_handle hdl) {
  in_header_ = true;
  self->configure_read(hdl, caf::io::receive_policy::exactly(4));
}

caf::expected<std::optional<std::vector<char>>> frame_reader::feed(caf::io::broker* self,
                                                                   caf::io::connection_handle hdl,
                                                                   std::vector<char>& buf) {
  if (in_header_) {
    auto size = payload_size(buf.data());
    if (size == 0 || size > max_payload) {
      return caf::make_error(caf::sec::invalid_argument,
                             "link frame of " + std::to_string(size) + " bytes refused");
    }
    in_header_ = false;
    self->configure_read(hdl, caf::io::receive_policy::exactly(size));
    return std::optional<std::vector<char>>{};
  }
  in_header_ = true;
  self->configure_read(hdl, caf::io::receive_policy::exactly(4));
  return std::optional<std::vector<char>>{std::move(buf)};
}

bool send(caf::io::broker* self, caf::io::connection_handle hdl, const caf::message& msg) {
  auto frame = encode(self->system(), msg);
  if (!frame) {
    return false;
  }
  self->write(hdl, frame->size(), frame->data());
  self->flush(hdl);
  return true;
}

void frame_writer::start(caf::io::broker* self, caf::io::connection_handle hdl, int fd) {
  hdl_ = hdl;
  fd_ = fd;
  self->ack_writes(hdl, true);
}

bool frame_writer::send(caf::io::broker* self, const caf::message& msg) {
  auto frame = encode(self->system(), msg);
  if (!frame) {
    return false;
  }
  size_t done = 0;
  if (queued_ == 0) {
    // The broker runs on the multiplexer thread, the only one that writes
    // this socket; with nothing queued in the scribe, order is kept.
    auto n = ::send(fd_, frame->data(), frame->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    done = n > 0 ? static_cast<size_t>(n) : 0;
  }
  if (done < frame->size()) {
    // A full socket (or an error the scribe will report when it writes).
    self->write(hdl_, frame->size() - done, frame->data() + done);
    self->flush(hdl_);
    queued_ += frame->size() - done;
  }
  return true;
}

void frame_writer::transferred(const caf::io::data_transferred_msg& msg) {
  if (msg.handle == hdl_) {
    queued_ = msg.remaining;
  }
}

}  // namespace myelin::bootloader::link
