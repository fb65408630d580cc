// Tests of tools/src/device_client.cpp: device addresses and error reporting.
#include "myelin/tools/device_client.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "myelin/runtime/config/config.hpp"

using namespace myelin::tools;

// HOST:PORT, HOST alone and [IPv6]:PORT parse; the default is loopback:4848.
TEST(device_address, parses_forms) {
  unsetenv("MYELIN_DEVICE");
  auto def = parse_device_text("");
  ASSERT_TRUE(def);
  EXPECT_EQ(def->host, "127.0.0.1");
  EXPECT_EQ(def->port, 4848);
  auto a = parse_device_text("device.local:5000");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "device.local");
  EXPECT_EQ(a->port, 5000);
  auto b = parse_device_text("10.0.0.7");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->port, 4848);
  auto c = parse_device_text("[::1]:6000");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 6000);
}

// $MYELIN_DEVICE is used when no address is given.
TEST(device_address, environment_default) {
  setenv("MYELIN_DEVICE", "192.0.2.1:7000", 1);
  auto a = parse_device_text("");
  unsetenv("MYELIN_DEVICE");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "192.0.2.1");
  EXPECT_EQ(a->port, 7000);
}

// Malformed addresses are refused with a reason.
TEST(device_address, rejects_malformed) {
  for (const char* bad :
       {":4848", "host:", "host:0", "host:65536", "host:12ab", "[::1", "[::1]x"}) {
    auto a = parse_device_text(bad);
    EXPECT_FALSE(a) << bad;
    if (!a) {
      EXPECT_EQ(static_cast<client_errc>(a.error().code()), client_errc::bad_address) << bad;
    }
  }
}

// A device that is not there gives `unreachable` naming the address.
TEST(device_client, unreachable_device) {
  // Port 1 on loopback: nothing listens there.
  auto body = get(
      [] {
        device_address d;
        d.port = 1;
        return d;
      }(),
      "/v1/status");
  ASSERT_FALSE(body);
  EXPECT_EQ(static_cast<client_errc>(body.error().code()), client_errc::unreachable);
  EXPECT_NE(myelin::runtime::describe(body.error()).find("127.0.0.1:1"), std::string::npos);
}

namespace {

// url_encode keeps RFC 3986's unreserved characters and percent-encodes the rest
// (also '/', '&', '=', spaces, non-ASCII bytes), so a key or filter never
// changes the request's path or query structure.
TEST(device_client, url_encode_keeps_unreserved_only) {
  using myelin::tools::url_encode;
  EXPECT_EQ(url_encode("abc-XYZ_0.9~"), "abc-XYZ_0.9~");
  EXPECT_EQ(url_encode("a/b c&d=e"), "a%2Fb%20c%26d%3De");
  EXPECT_EQ(url_encode("/devices/x:1"), "%2Fdevices%2Fx%3A1");
  EXPECT_EQ(url_encode(std::string{"\xC3\xA9\x00", 3}), "%C3%A9%00");
  EXPECT_EQ(url_encode(""), "");
}

}  // namespace
