// Framing and serialization of the app-host link.
#include "link/link.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/sec.hpp>

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

}  // namespace myelin::bootloader::link
