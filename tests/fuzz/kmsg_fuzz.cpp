// libFuzzer target `kmsg`: parse_kmsg_record on arbitrary bytes must not
// crash, leak or read out of bounds, and what it returns must be consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "myelin/runtime/log/kmsg_record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  std::string why;
  auto r = myelin::runtime::parse_kmsg_record(text, &why);
  if (r) {
    if (r->priority < 0 || r->priority > 1023 || r->level() > 7 || r->message.size() > size) {
      std::abort();
    }
  } else if (why.empty()) {
    std::abort();
  }
  return 0;
}
