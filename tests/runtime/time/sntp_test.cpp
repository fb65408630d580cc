// Tests of runtime/src/time/sntp.cpp: timestamps, replies checked against
// spoofing and unsynchronised servers, and a query against a UDP socket
// answering as a server would (the real server, chronyd, is in
// integration.time).
#include "myelin/runtime/time/sntp.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"

using namespace myelin::runtime;

namespace {

void put64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

/// A server's reply to `sent`, its clock `ahead_us` ahead of `t1_us`.
std::vector<unsigned char> reply(uint64_t sent, int64_t t1_us, int64_t ahead_us, int stratum = 2,
                                 int leap = 0, int mode = 4) {
  std::vector<unsigned char> p(48, 0);
  p[0] = static_cast<unsigned char>((leap << 6) | (4 << 3) | mode);
  p[1] = static_cast<unsigned char>(stratum);
  put64(p.data() + 24, sent);
  put64(p.data() + 32, ntp_timestamp(t1_us + ahead_us + 1000));  // 1 ms out
  put64(p.data() + 40, ntp_timestamp(t1_us + ahead_us + 1100));
  return p;
}

uint8_t code_of(const caf::error& e) {
  return e.code();
}

}  // namespace

// Unix microseconds to NTP's 1900-based fixed point and back.
TEST(sntp, timestamps_round_trip) {
  EXPECT_EQ(ntp_timestamp(0) >> 32, 2208988800ULL);
  for (int64_t us : {int64_t{0}, int64_t{1764000000123456}, int64_t{1}}) {
    EXPECT_NEAR(static_cast<double>(unix_us_of(ntp_timestamp(us))), static_cast<double>(us), 1.0);
  }
}

// The offset and round trip of a good reply: a server 5 s ahead, 2.1 ms away.
TEST(sntp, offset_and_delay_of_a_good_reply) {
  int64_t t1 = 1764000000000000;
  auto sent = ntp_timestamp(t1);
  auto r = reply(sent, t1, 5000000);
  auto s = parse_sntp_reply(r.data(), r.size(), sent, t1 + 2100);
  ASSERT_TRUE(s) << describe(s.error());
  EXPECT_NEAR(static_cast<double>(s->offset_us), 5000000.0, 2.0);
  EXPECT_NEAR(static_cast<double>(s->delay_us), 2000.0, 2.0);
  EXPECT_EQ(s->stratum, 2);
}

// Replies that must not move the clock: short, a client's, not ours (a
// forgery or a late one), unsynchronised, a kiss-o'-death, no timestamps.
TEST(sntp, bad_replies_refused) {
  int64_t t1 = 1764000000000000;
  auto sent = ntp_timestamp(t1);
  auto good = reply(sent, t1, 0);
  EXPECT_EQ(code_of(parse_sntp_reply(good.data(), 47, sent, t1).error()),
            static_cast<uint8_t>(time_errc::bad_reply));
  auto client = reply(sent, t1, 0, 2, 0, 3);
  EXPECT_EQ(code_of(parse_sntp_reply(client.data(), 48, sent, t1).error()),
            static_cast<uint8_t>(time_errc::bad_reply));
  auto forged = reply(sent + 1, t1, 0);
  EXPECT_EQ(code_of(parse_sntp_reply(forged.data(), 48, sent, t1).error()),
            static_cast<uint8_t>(time_errc::bad_reply));
  auto unsynced = reply(sent, t1, 0, 16);
  EXPECT_EQ(code_of(parse_sntp_reply(unsynced.data(), 48, sent, t1).error()),
            static_cast<uint8_t>(time_errc::unsynchronized));
  auto alarm = reply(sent, t1, 0, 2, 3);
  EXPECT_EQ(code_of(parse_sntp_reply(alarm.data(), 48, sent, t1).error()),
            static_cast<uint8_t>(time_errc::unsynchronized));
  auto kod = reply(sent, t1, 0, 0);
  std::memcpy(kod.data() + 12, "RATE", 4);
  auto k = parse_sntp_reply(kod.data(), 48, sent, t1);
  ASSERT_FALSE(k);
  EXPECT_NE(describe(k.error()).find("kiss-o'-death RATE"), std::string::npos);
  auto empty = reply(sent, t1, 0);
  std::memset(empty.data() + 32, 0, 16);
  EXPECT_FALSE(parse_sntp_reply(empty.data(), 48, sent, t1));
}

// A query over loopback: a forged reply first (wrong originate time) is
// ignored, the real one is taken; nothing listening, or silence, is
// "unreachable".
TEST(sntp, query_ignores_forgeries_and_times_out) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto port = ntohs(addr.sin_port);
  std::thread server{[fd] {
    unsigned char req[48];
    sockaddr_in from{};
    socklen_t flen = sizeof from;
    if (::recvfrom(fd, req, sizeof req, 0, reinterpret_cast<sockaddr*>(&from), &flen) != 48) {
      return;
    }
    uint64_t sent = 0;
    for (int i = 0; i < 8; ++i) {
      sent = (sent << 8) | req[40 + i];
    }
    auto t1 = unix_us_of(sent);
    auto forged = reply(sent ^ 0xffff0000ULL, t1, 999000000);
    ::sendto(fd, forged.data(), forged.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    auto good = reply(sent, t1, 250000);
    ::sendto(fd, good.data(), good.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
  }};
  auto s = sntp_query("127.0.0.1:" + std::to_string(port), std::chrono::milliseconds{2000});
  server.join();
  ASSERT_TRUE(s) << describe(s.error());
  EXPECT_NEAR(static_cast<double>(s->offset_us), 250000.0, 50000.0);
  // Silence: the same socket, nobody answering now.
  auto silent = sntp_query("127.0.0.1:" + std::to_string(port), std::chrono::milliseconds{200});
  ASSERT_FALSE(silent);
  EXPECT_EQ(code_of(silent.error()), static_cast<uint8_t>(time_errc::unreachable));
  EXPECT_NE(describe(silent.error()).find("no answer within 200 ms"), std::string::npos);
  ::close(fd);
  auto nobody = sntp_query("127.0.0.1:" + std::to_string(port), std::chrono::milliseconds{500});
  EXPECT_FALSE(nobody);
  auto noname = sntp_query("no-such-host.invalid", std::chrono::milliseconds{500});
  EXPECT_FALSE(noname);
}
