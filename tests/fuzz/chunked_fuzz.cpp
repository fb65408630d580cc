// libFuzzer target `chunked`: the HTTP chunked decoder on arbitrary bytes,
// delivered in pieces whose sizes the input also chooses, must not crash,
// read past what it was given, deliver more body than input, or go on after
// an error or the end of the body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "myelin/runtime/platform/http_chunked.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  // The first byte picks how much the connection hands over per read.
  size_t piece = 1 + data[0] % 64;
  const char* input = reinterpret_cast<const char*>(data + 1);
  size_t left = size - 1;
  size_t consumed = 0;
  myelin::runtime::chunked_decoder dec{[&](char* dst, size_t cap) -> long {
    if (cap == 0) {
      std::abort();  // never asked for nothing
    }
    auto n = std::min({cap, piece, left - consumed});
    std::memcpy(dst, input + consumed, n);
    consumed += n;
    return static_cast<long>(n);
  }};
  std::string body;
  char buf[37];
  while (true) {
    auto n = dec.read(buf, sizeof(buf));
    if (n < 0) {
      if (dec.error().empty() || dec.read(buf, sizeof(buf)) != -1) {
        std::abort();
      }
      break;
    }
    if (n == 0) {
      if (dec.read(buf, sizeof(buf)) != 0) {
        std::abort();
      }
      break;
    }
    if (static_cast<size_t>(n) > sizeof(buf)) {
      std::abort();
    }
    body.append(buf, static_cast<size_t>(n));
  }
  if (consumed > left || body.size() > left || dec.bytes() != body.size()) {
    std::abort();
  }
  return 0;
}
