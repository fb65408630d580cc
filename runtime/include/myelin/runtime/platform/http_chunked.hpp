// A decoder of HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1),
// pulling from a connection: the control channel reads large request bodies
// (firmware uploads) with it straight into their destination, one recv(2)
// per piece instead of cpp-httplib's 4 KiB reads (decision 0064).
//
// Strict, because it faces the network: a chunk size is 1 to 15 hex digits,
// every line ends with CRLF, a chunk's data is followed by CRLF, a line is at
// most max_line bytes and the trailer at most max_trailer_lines lines;
// extensions are accepted and ignored. Anything else ends the body with an
// error that says what was wrong. Plain C++, no CAF (it is fuzzed).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace myelin::runtime {

class chunked_decoder {
 public:
  /// Reads up to `cap` bytes of the connection into `dst`: how many (> 0),
  /// 0 when the peer closed it, < 0 on an error (timeout, reset). Asked for
  /// one byte at a time while a chunk header is parsed, for the rest of a
  /// chunk otherwise, so that it never reads past the body.
  using read_fn = std::function<long(char* dst, size_t cap)>;

  static constexpr size_t max_line = 4096;
  static constexpr size_t max_trailer_lines = 64;

  explicit chunked_decoder(read_fn in) : in_(std::move(in)) {}

  /// The next bytes of the body, at most `cap` (> 0), into `dst`: how many;
  /// 0 at the end of the body (after the last chunk and the trailer); -1 on
  /// malformed framing or a connection that broke off (see error()).
  long read(char* dst, size_t cap);

  /// Why read() returned -1.
  const std::string& error() const { return error_; }

  /// Body bytes delivered so far.
  uint64_t bytes() const { return bytes_; }

 private:
  enum class state { header, data, data_end, trailer, done, failed };

  long fail(std::string why);
  /// Reads one line without its CRLF into line_; false on error (error_ set).
  bool read_line(const char* what);
  bool parse_chunk_header();

  read_fn in_;
  state state_ = state::header;
  uint64_t left_ = 0;
  uint64_t bytes_ = 0;
  size_t trailer_lines_ = 0;
  std::string line_;
  std::string error_;
};

}  // namespace myelin::runtime
