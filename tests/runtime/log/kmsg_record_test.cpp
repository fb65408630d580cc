// Tests of the /dev/kmsg record parser: real records, continuation lines,
// malformed, truncated, oversized and hostile input.
#include "myelin/runtime/log/kmsg_record.hpp"

#include <gtest/gtest.h>

using myelin::runtime::parse_kmsg_record;

namespace {

// A record as the kernel writes it parses into its fields.
TEST(kmsg_record, plain_record) {
  auto r = parse_kmsg_record("6,339,5140900,-;NET: Registered protocol family 10\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->priority, 6);
  EXPECT_EQ(r->level(), 6);
  EXPECT_EQ(r->facility(), 0);
  EXPECT_EQ(r->sequence, 339u);
  EXPECT_EQ(r->timestamp_us, 5140900u);
  EXPECT_EQ(r->flags, '-');
  EXPECT_EQ(r->message, "NET: Registered protocol family 10");
  EXPECT_TRUE(r->dictionary.empty());
}

// Continuation lines become the dictionary; the message stays the first line.
TEST(kmsg_record, continuation_lines) {
  auto r = parse_kmsg_record(
      "3,776,96123456,-,caller=T1;usb 1-1: device descriptor read/64, error -71\n"
      " SUBSYSTEM=usb\n DEVICE=c189:1\n NOVALUE\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->level(), 3);
  EXPECT_EQ(r->message, "usb 1-1: device descriptor read/64, error -71");
  ASSERT_EQ(r->dictionary.size(), 3u);
  EXPECT_EQ(r->dictionary[0], (std::pair<std::string, std::string>{"SUBSYSTEM", "usb"}));
  EXPECT_EQ(r->dictionary[1].second, "c189:1");
  EXPECT_EQ(r->dictionary[2].first, "NOVALUE");
}

// A line written by a process (facility user) keeps its facility and level.
TEST(kmsg_record, user_facility) {
  auto r = parse_kmsg_record("12,5,1,-;marker text");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->facility(), 1);
  EXPECT_EQ(r->level(), 4);
  EXPECT_EQ(r->message, "marker text");
}

// An empty message is a record too.
TEST(kmsg_record, empty_message) {
  auto r = parse_kmsg_record("6,1,2,-;\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "");
}

// Malformed prefixes are refused with a reason.
TEST(kmsg_record, malformed_prefixes) {
  for (const char* bad :
       {"", ";", "6,1,2;no flags", "6,1;x", "x,1,2,-;x", "6,-1,2,-;x", "6,1,2x,-;x", "6,1,2,;x",
        "6,1,2,-", "2000,1,2,-;x", "6,1,2,toolongflags;x", " 6,1,2,-;x", "6,,2,-;x",
        "6,99999999999999999999,2,-;x", "6,1,2,-\n;x"}) {
    std::string why;
    EXPECT_FALSE(parse_kmsg_record(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

// A continuation line without its leading space is refused.
TEST(kmsg_record, bad_continuation) {
  std::string why;
  EXPECT_FALSE(parse_kmsg_record("6,1,2,-;msg\nKEY=value\n", &why));
  EXPECT_NE(why.find("space"), std::string::npos);
}

// A truncated record (cut inside the prefix) is refused; cut in the message it parses.
TEST(kmsg_record, truncated) {
  EXPECT_FALSE(parse_kmsg_record("6,339,51409"));
  auto r = parse_kmsg_record("6,339,5140900,-;NET: Regis");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message, "NET: Regis");
}

// Oversized and binary input never crashes; the bytes are kept as they are.
TEST(kmsg_record, oversized_and_binary) {
  std::string big = "4,7,8,-;" + std::string(100000, 'x');
  auto r = parse_kmsg_record(big);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->message.size(), 100000u);
  static const char raw[] = "6,1,2,-;a\0b\x1b[31m";
  std::string binary{raw, sizeof(raw) - 1};
  auto b = parse_kmsg_record(binary);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->message, binary.substr(8));
}

}  // namespace
