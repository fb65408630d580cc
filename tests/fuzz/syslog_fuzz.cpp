// libFuzzer target `syslog`: parse_syslog_message on arbitrary datagrams must
// not crash, leak or read out of bounds, and keep its promises: PRI in
// 0..191, a malformed datagram keeps its text, nothing grows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "myelin/runtime/log/syslog_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto m = myelin::runtime::parse_syslog_message(text);
  if (m.priority < 0 || m.priority > 191 || m.message.size() > size || m.ident.size() > size ||
      m.pid.size() > size) {
    std::abort();
  }
  if (!m.error.empty() && m.priority != 13) {
    std::abort();
  }
  return 0;
}
