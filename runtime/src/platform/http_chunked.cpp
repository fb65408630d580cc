// HTTP/1.1 chunked transfer decoding (see http_chunked.hpp).
#include "myelin/runtime/platform/http_chunked.hpp"

#include <algorithm>

namespace myelin::runtime {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return s.size() > 40 ? out + "..." : out;
}

}  // namespace

long chunked_decoder::fail(std::string why) {
  state_ = state::failed;
  error_ = "malformed chunked body: " + std::move(why);
  return -1;
}

bool chunked_decoder::read_line(const char* what) {
  line_.clear();
  while (true) {
    char c = 0;
    auto n = in_(&c, 1);
    if (n <= 0) {
      state_ = state::failed;
      error_ = std::string{"the body broke off in "} + what +
               (n == 0 ? " (the connection closed)" : " (read error or timeout)");
      return false;
    }
    if (c == '\n') {
      if (line_.empty() || line_.back() != '\r') {
        fail(std::string{what} + " ends with a bare LF, not CRLF");
        return false;
      }
      line_.pop_back();
      return true;
    }
    if (line_.size() >= max_line) {
      fail(std::string{what} + " is longer than " + std::to_string(max_line) + " bytes");
      return false;
    }
    line_ += c;
  }
}

bool chunked_decoder::parse_chunk_header() {
  if (!read_line("a chunk header")) {
    return false;
  }
  uint64_t size = 0;
  size_t i = 0;
  for (; i < line_.size(); ++i) {
    int v = hex_value(line_[i]);
    if (v < 0) {
      break;
    }
    if (i >= 15) {
      fail("chunk size '" + printable(line_) + "' has more than 15 hex digits");
      return false;
    }
    size = size * 16 + static_cast<uint64_t>(v);
  }
  if (i == 0) {
    fail("chunk header '" + printable(line_) + "' does not start with a hex size");
    return false;
  }
  // Optional whitespace, then nothing or extensions (";name[=value]", ignored).
  auto rest = i;
  while (rest < line_.size() && (line_[rest] == ' ' || line_[rest] == '\t')) {
    ++rest;
  }
  if (rest < line_.size() && line_[rest] != ';') {
    fail("chunk header '" + printable(line_) + "' has garbage after the size");
    return false;
  }
  left_ = size;
  state_ = size == 0 ? state::trailer : state::data;
  return true;
}

long chunked_decoder::read(char* dst, size_t cap) {
  while (true) {
    switch (state_) {
      case state::failed:
        return -1;
      case state::done:
        return 0;
      case state::header:
        if (!parse_chunk_header()) {
          return -1;
        }
        break;
      case state::data: {
        if (cap == 0) {
          return 0;
        }
        auto want = static_cast<size_t>(std::min<uint64_t>(left_, cap));
        auto n = in_(dst, want);
        if (n <= 0) {
          state_ = state::failed;
          error_ = "the body broke off inside a chunk (" + std::to_string(left_) +
                   " bytes missing" + (n == 0 ? ", the connection closed)" : ")");
          return -1;
        }
        auto got = std::min(static_cast<size_t>(n), want);
        left_ -= got;
        bytes_ += got;
        if (left_ == 0) {
          state_ = state::data_end;
        }
        return static_cast<long>(got);
      }
      case state::data_end:
        if (!read_line("the end of a chunk")) {
          return -1;
        }
        if (!line_.empty()) {
          return fail("a chunk's data is longer than its size says ('" + printable(line_) +
                      "' before CRLF)");
        }
        state_ = state::header;
        break;
      case state::trailer:
        if (!read_line("the trailer")) {
          return -1;
        }
        if (line_.empty()) {
          state_ = state::done;
          return 0;
        }
        if (++trailer_lines_ > max_trailer_lines) {
          return fail("the trailer has more than " + std::to_string(max_trailer_lines) + " lines");
        }
        if (line_.find(':') == std::string::npos) {
          return fail("trailer line '" + printable(line_) + "' is not a header field");
        }
        break;
    }
  }
}

}  // namespace myelin::runtime
