// Tests of the syslog datagram parser: the shapes senders use, the PRI range,
// and malformed, truncated, oversized and hostile datagrams.
#include "myelin/runtime/log/syslog_message.hpp"

#include <gtest/gtest.h>

using myelin::runtime::parse_syslog_message;

namespace {

// glibc syslog(3): timestamp, ident[pid], message.
TEST(syslog_message, rfc3164_with_timestamp_and_pid) {
  auto m = parse_syslog_message("<30>Nov 22 05:40:01 sshd[812]: Accepted publickey for root\n");
  EXPECT_TRUE(m.error.empty());
  EXPECT_EQ(m.priority, 30);
  EXPECT_EQ(m.facility(), 3);
  EXPECT_EQ(m.severity(), 6);
  EXPECT_EQ(m.timestamp, "Nov 22 05:40:01");
  EXPECT_EQ(m.ident, "sshd");
  EXPECT_EQ(m.pid, "812");
  EXPECT_EQ(m.message, "Accepted publickey for root");
}

// A single-digit day is space-padded.
TEST(syslog_message, padded_day) {
  auto m = parse_syslog_message("<13>Jan  5 01:02:03 cron: ran");
  EXPECT_EQ(m.timestamp, "Jan  5 01:02:03");
  EXPECT_EQ(m.ident, "cron");
  EXPECT_EQ(m.message, "ran");
}

// busybox / short form: "<PRI>ident: msg".
TEST(syslog_message, ident_without_timestamp) {
  auto m = parse_syslog_message("<11>udhcpc: lease lost");
  EXPECT_TRUE(m.error.empty());
  EXPECT_EQ(m.severity(), 3);
  EXPECT_EQ(m.ident, "udhcpc");
  EXPECT_EQ(m.pid, "");
  EXPECT_EQ(m.message, "lease lost");
}

// Without a tag the whole content is the message (well-formed).
TEST(syslog_message, no_ident) {
  auto m = parse_syslog_message("<14>just some text here");
  EXPECT_TRUE(m.error.empty());
  EXPECT_EQ(m.ident, "");
  EXPECT_EQ(m.message, "just some text here");
}

// An app host's line: ident app/<name>.
TEST(syslog_message, app_ident) {
  auto m = parse_syslog_message("<14>app/hello[42]: greeting Ada");
  EXPECT_EQ(m.ident, "app/hello");
  EXPECT_EQ(m.pid, "42");
  EXPECT_EQ(m.message, "greeting Ada");
}

// RFC 5424 with structured data and a BOM.
TEST(syslog_message, rfc5424) {
  auto m = parse_syslog_message(
      "<165>1 2003-10-11T22:14:15.003Z host evntslog 77 ID47 [exampleSDID@32473 iut=\"3\" "
      "eventSource=\"App]\"] \xEF\xBB\xBF"
      "An application event");
  EXPECT_TRUE(m.error.empty());
  EXPECT_EQ(m.priority, 165);
  EXPECT_EQ(m.hostname, "host");
  EXPECT_EQ(m.ident, "evntslog");
  EXPECT_EQ(m.pid, "77");
  EXPECT_EQ(m.message, "An application event");
  auto nil = parse_syslog_message("<13>1 - - - - - - hi");
  EXPECT_EQ(nil.ident, "");
  EXPECT_EQ(nil.message, "hi");
}

// The PRI bounds: 0 and 191 are valid, 192 and 4 digits are not.
TEST(syslog_message, pri_bounds) {
  EXPECT_EQ(parse_syslog_message("<0>x: y").severity(), 0);
  EXPECT_EQ(parse_syslog_message("<191>x: y").priority, 191);
  for (const char* bad : {"<192>x", "<1000>x", "<>x", "<-1>x", "<12x", "<", "<1 3>x"}) {
    auto m = parse_syslog_message(bad);
    EXPECT_FALSE(m.error.empty()) << bad;
    EXPECT_EQ(m.priority, 13) << bad;
    EXPECT_EQ(m.message, bad) << "raw text kept: " << bad;
  }
}

// No PRI at all: malformed, kept as raw text at user.notice.
TEST(syslog_message, missing_pri_kept_raw) {
  auto m = parse_syslog_message("garbage no pri\n");
  EXPECT_FALSE(m.error.empty());
  EXPECT_EQ(m.severity(), 5);
  EXPECT_EQ(m.message, "garbage no pri");
}

// Empty datagrams (or only newlines / NULs) are malformed with nothing kept.
TEST(syslog_message, empty) {
  for (std::string bad : {std::string{}, std::string{"\n"}, std::string{"\0\0", 2}}) {
    auto m = parse_syslog_message(bad);
    EXPECT_FALSE(m.error.empty());
    EXPECT_TRUE(m.message.empty());
  }
}

// Truncated headers degrade to message text, never to a crash.
TEST(syslog_message, truncated_headers) {
  EXPECT_EQ(parse_syslog_message("<13>Nov 22 05:4").message, "Nov 22 05:4");
  EXPECT_EQ(parse_syslog_message("<13>sshd[12").message, "sshd[12");
  EXPECT_EQ(parse_syslog_message("<13>sshd").message, "sshd");
  EXPECT_EQ(parse_syslog_message("<13>1 2003-10-11T22:14:15Z host").message,
            "1 2003-10-11T22:14:15Z host");
  EXPECT_EQ(parse_syslog_message("<13>").message, "");
}

// Oversized idents are not tags; huge messages are kept whole (the ring cuts).
TEST(syslog_message, oversized) {
  std::string long_ident(200, 'a');
  auto m = parse_syslog_message("<13>" + long_ident + ": x");
  EXPECT_EQ(m.ident, "");
  EXPECT_EQ(m.message, long_ident + ": x");
  std::string big(70000, 'y');
  EXPECT_EQ(parse_syslog_message("<13>t: " + big).message.size(), big.size());
}

// Hostile bytes (escape sequences, NULs inside) pass through as data.
TEST(syslog_message, hostile_bytes) {
  static const char raw[] = "<13>t: \x1b]0;pwned\x07\0tail";
  std::string evil{raw, sizeof(raw) - 1};
  auto m = parse_syslog_message(evil);
  EXPECT_EQ(m.ident, "t");
  EXPECT_EQ(m.message, evil.substr(7));
}

}  // namespace
