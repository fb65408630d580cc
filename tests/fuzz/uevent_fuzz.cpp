// libFuzzer target: the uevent parser and the property table on arbitrary bytes.
// Built by myelin_add_fuzzer(uevent ...) in tests/CMakeLists.txt; seeds in
// tests/fuzz/corpus/uevent/ are real kernel messages captured on a test machine.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "myelin/runtime/uevent/uevent_parser.hpp"
#include "myelin/runtime/uevent/uevent_table.hpp"

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace myelin::runtime;
  // One table across inputs, so add/remove/move sequences meet.
  static uevent_table table;
  auto r = parse_uevent(reinterpret_cast<const char*>(data), size);
  if (r.ok()) {
    // What the parser promises about an accepted event.
    check(valid_devpath(r.event.devpath));
    check(!r.event.action.empty());
    check(r.event.action != "move" || valid_devpath(r.event.devpath_old));
    size_t removed = 0;
    table.apply(r.event, &removed);
    if (r.event.action != "remove" && table.apply(r.event) != uevent_table_change::ignored) {
      check(table.find(r.event.devpath) != nullptr);
    }
    for (const auto& row : table.with_prefix(r.event.devpath)) {
      check(row.properties != nullptr);
      check(uevent_table::has_prefix(row.devpath, r.event.devpath));
    }
    if (table.size() > 10000) {
      table.replace({});
    }
  } else {
    check(!r.detail.empty());
  }
  return 0;
}
