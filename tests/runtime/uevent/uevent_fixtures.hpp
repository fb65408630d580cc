// Reads the captured uevent fixtures of tests/data/uevent/ (length-prefixed records).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "myelin/test/support.hpp"

namespace myelin::test {

/// The messages of tests/data/uevent/<name>, in capture order.
inline std::vector<std::string> uevent_fixture(const std::string& name) {
  auto bytes = read_file(source_dir() / "tests" / "data" / "uevent" / name);
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos + 4 <= bytes.size()) {
    uint32_t len = static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos])) |
                   static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + 1])) << 8 |
                   static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + 2])) << 16 |
                   static_cast<uint32_t>(static_cast<unsigned char>(bytes[pos + 3])) << 24;
    pos += 4;
    if (pos + len > bytes.size()) {
      break;
    }
    out.push_back(bytes.substr(pos, len));
    pos += len;
  }
  return out;
}

}  // namespace myelin::test
