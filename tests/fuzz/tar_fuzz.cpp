// libFuzzer target `tar`: the firmware files' tar reader on arbitrary bytes,
// handed over in pieces whose sizes the input also chooses, must not crash,
// hand out more member data than it was given, a piece outside the current
// chunk, or go on after the end or a failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "myelin/runtime/firmware/tar_stream.hpp"

using myelin::runtime::tar_member;
using myelin::runtime::tar_reader;
using myelin::runtime::tar_status;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) {
    return 0;
  }
  // The first byte picks how much the source hands over per call.
  size_t piece_size = 1 + data[0] * 7;
  std::string_view input{reinterpret_cast<const char*>(data + 1), size - 1};
  size_t pos = 0;
  std::string_view chunk;
  bool ended = false;
  tar_reader reader{[&](tar_reader::chunk& out) {
    if (ended) {
      std::abort();  // asked again after the end
    }
    auto n = std::min(piece_size, input.size() - pos);
    chunk = input.substr(pos, n);
    out.data = chunk;
    pos += n;
    ended = n == 0;
    return true;
  }};
  size_t data_total = 0;
  for (int members = 0;; ++members) {
    tar_member m;
    auto st = reader.next(m);
    if (st != tar_status::ok) {
      if (st != tar_status::end && reader.message().empty()) {
        std::abort();  // a failure without a reason
      }
      break;
    }
    while (true) {
      std::string_view piece;
      const std::shared_ptr<const void>* keep = nullptr;
      st = reader.data(piece, keep);
      if (st != tar_status::ok) {
        break;
      }
      if (piece.empty() || piece.data() < chunk.data() ||
          piece.data() + piece.size() > chunk.data() + chunk.size()) {
        std::abort();  // not a slice of the current chunk
      }
      data_total += piece.size();
    }
    if (st != tar_status::end) {
      break;
    }
  }
  if (data_total > input.size()) {
    std::abort();
  }
  return 0;
}
