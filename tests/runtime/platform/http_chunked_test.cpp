// The HTTP chunked decoder of the control channel's uploads: well-formed
// bodies in any piece sizes, and every kind of malformed framing refused with
// its reason, without reading past the body.
#include "myelin/runtime/platform/http_chunked.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

using myelin::runtime::chunked_decoder;

namespace {

/// A connection holding `wire`, handing over at most `piece` bytes per read.
struct wire_source {
  std::string wire;
  size_t piece;
  size_t pos = 0;

  long operator()(char* dst, size_t cap) {
    auto n = std::min({cap, piece, wire.size() - pos});
    std::memcpy(dst, wire.data() + pos, n);
    pos += n;
    return static_cast<long>(n);
  }
};

struct decoded {
  bool ok = false;
  std::string body;
  std::string error;
  size_t consumed = 0;
};

decoded decode(const std::string& wire, size_t piece = 1 << 20, size_t out = 1 << 20) {
  auto src = std::make_shared<wire_source>(wire_source{wire, piece});
  chunked_decoder dec{[src](char* dst, size_t cap) { return (*src)(dst, cap); }};
  decoded d;
  std::string buf(out, '\0');
  while (true) {
    auto n = dec.read(buf.data(), buf.size());
    if (n < 0) {
      d.error = dec.error();
      break;
    }
    if (n == 0) {
      d.ok = true;
      break;
    }
    d.body.append(buf.data(), static_cast<size_t>(n));
  }
  d.consumed = src->pos;
  return d;
}

}  // namespace

TEST(http_chunked, decodes_in_any_piece_size) {
  std::string wire = "5\r\nhello\r\n1;name=value\r\n \r\nA\r\n0123456789\r\n0\r\n\r\n";
  for (size_t piece : {1, 2, 3, 7, 64, 4096}) {
    for (size_t out : {1, 4, 1000}) {
      auto d = decode(wire, piece, out);
      ASSERT_TRUE(d.ok) << d.error << " piece " << piece << " out " << out;
      EXPECT_EQ(d.body, "hello 0123456789");
      EXPECT_EQ(d.consumed, wire.size());
    }
  }
}

TEST(http_chunked, hex_sizes_extensions_and_trailer) {
  std::string data(0x1aB, 'x');
  auto d = decode("1aB ;a=b;c\r\n" + data + "\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n");
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.body, data);
}

TEST(http_chunked, never_reads_past_the_body) {
  std::string wire = "3\r\nabc\r\n0\r\n\r\n";
  auto d = decode(wire + "GET /next HTTP/1.1\r\n\r\n", 1);
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.consumed, wire.size());
}

TEST(http_chunked, empty_body) {
  auto d = decode("0\r\n\r\n");
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.body, "");
}

TEST(http_chunked, malformed_framing_is_refused_with_its_reason) {
  struct bad {
    std::string wire;
    std::string reason;
  };
  for (const auto& b : std::vector<bad>{
           {"", "broke off in a chunk header (the connection closed)"},
           {"\r\n", "does not start with a hex size"},
           {"x\r\n", "does not start with a hex size"},
           {"-1\r\n", "does not start with a hex size"},
           {"+5\r\nhello\r\n0\r\n\r\n", "does not start with a hex size"},
           {"5 5\r\n", "garbage after the size"},
           {"0x5\r\n", "garbage after the size"},
           {"5\n", "bare LF"},
           {"1000000000000000\r\n", "more than 15 hex digits"},
           {"ffffffffffffffffffff\r\n", "more than 15 hex digits"},
           {"5;" + std::string(5000, 'e') + "\r\n", "longer than 4096 bytes"},
           {"5\r\nhel", "broke off inside a chunk (2 bytes missing, the connection closed)"},
           {"5\r\nhello", "broke off in the end of a chunk"},
           {"5\r\nhelloX\r\n", "longer than its size"},
           {"5\r\nhello\n0\r\n\r\n", "bare LF"},
           {"0\r\n", "broke off in the trailer"},
           {"0\r\nno colon\r\n\r\n", "not a header field"},
       }) {
    auto d = decode(b.wire, 3);
    EXPECT_FALSE(d.ok) << "accepted: " << b.wire.substr(0, 40);
    EXPECT_NE(d.error.find(b.reason), std::string::npos)
        << b.wire.substr(0, 40) << " -> " << d.error;
    EXPECT_EQ(d.error.find('\n'), std::string::npos) << d.error;
  }
}

TEST(http_chunked, trailer_is_bounded) {
  std::string wire = "0\r\n";
  for (int i = 0; i < 100; ++i) {
    wire += "X-A: b\r\n";
  }
  auto d = decode(wire + "\r\n");
  EXPECT_FALSE(d.ok);
  EXPECT_NE(d.error.find("more than 64 lines"), std::string::npos) << d.error;
}

TEST(http_chunked, read_errors_end_the_body) {
  chunked_decoder dec{[](char*, size_t) -> long { return -1; }};
  char buf[8];
  EXPECT_EQ(dec.read(buf, sizeof(buf)), -1);
  EXPECT_NE(dec.error().find("read error or timeout"), std::string::npos) << dec.error();
  EXPECT_EQ(dec.read(buf, sizeof(buf)), -1);  // stays failed
}
