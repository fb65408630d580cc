// Tests of runtime/src/uevent/uevent_parser.cpp: real kernel messages captured on this
// machine (tests/data/uevent/) parse as expected; the libudev format is
// recognised; malformed, truncated, oversized and hostile input is refused
// with the right error and never crashes.
#include "myelin/runtime/uevent/uevent_parser.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "myelin/test/support.hpp"
#include "uevent_fixtures.hpp"

using namespace myelin::runtime;
using myelin::test::uevent_fixture;

namespace {

std::string msg(std::initializer_list<const char*> parts) {
  std::string out;
  for (const char* p : parts) {
    out += p;
    out += '\0';
  }
  return out;
}

std::string libudev(const std::string& props, uint32_t magic = 0xfeedcafe, uint32_t off = 40,
                    int64_t len = -1) {
  std::string out{"libudev", 8};
  unsigned char m[4] = {static_cast<unsigned char>(magic >> 24),
                        static_cast<unsigned char>(magic >> 16),
                        static_cast<unsigned char>(magic >> 8), static_cast<unsigned char>(magic)};
  out.append(reinterpret_cast<const char*>(m), 4);
  uint32_t words[7] = {40, off, static_cast<uint32_t>(len < 0 ? props.size() : len), 0, 0, 0, 0};
  out.append(reinterpret_cast<const char*>(words), sizeof(words));
  return out + props;
}

}  // namespace

// Every captured message parses; header, SUBSYSTEM and SEQNUM are taken apart.
TEST(uevent_parser, captured_messages_parse) {
  for (const char* name : {"veth_lifecycle.bin", "bridge_ifb.bin", "synthetic.bin"}) {
    auto messages = uevent_fixture(name);
    ASSERT_FALSE(messages.empty()) << name;
    for (const auto& m : messages) {
      auto r = parse_uevent(m);
      EXPECT_TRUE(r.ok()) << name << ": " << to_string(r.error) << ": " << r.detail;
      EXPECT_GT(r.event.seqnum, 0u);
      EXPECT_FALSE(r.event.subsystem.empty());
    }
  }
  auto first = parse_uevent(uevent_fixture("veth_lifecycle.bin").front());
  EXPECT_EQ(first.event.action, "add");
  EXPECT_EQ(first.event.devpath, "/devices/virtual/net/vb");
  EXPECT_EQ(first.event.subsystem, "net");
  EXPECT_EQ(first.event.seqnum, 1013u);
  ASSERT_EQ(first.event.entries.size(), 6u);
  EXPECT_EQ(first.event.entries[3], (std::pair<std::string, std::string>{"INTERFACE", "vb"}));
  EXPECT_FALSE(first.event.libudev);
}

// A captured move carries DEVPATH_OLD.
TEST(uevent_parser, captured_move_has_old_devpath) {
  auto messages = uevent_fixture("veth_lifecycle.bin");
  auto r = parse_uevent(messages.at(14));
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.event.action, "move");
  EXPECT_EQ(r.event.devpath, "/devices/virtual/net/vc");
  EXPECT_EQ(r.event.devpath_old, "/devices/virtual/net/vb");
}

// Synthetic uevents (written into a uevent file) keep MODALIAS and SYNTH_ARG_ keys.
TEST(uevent_parser, captured_synthetic_events) {
  auto messages = uevent_fixture("synthetic.bin");
  auto pci = parse_uevent(messages.at(0));
  ASSERT_TRUE(pci.ok()) << pci.detail;
  bool has_modalias = false;
  for (const auto& [k, v] : pci.event.entries) {
    has_modalias |= k == "MODALIAS" && v.rfind("pci:v00001AF4", 0) == 0;
  }
  EXPECT_TRUE(has_modalias);
  auto lo = parse_uevent(messages.at(2));
  ASSERT_TRUE(lo.ok()) << lo.detail;
  EXPECT_EQ(lo.event.entries.at(4).first, "SYNTH_ARG_ORIGIN");
  EXPECT_EQ(lo.event.entries.at(4).second, "myelin");
}

// libudev's monitor format is recognised: ACTION and DEVPATH come from the entries.
TEST(uevent_parser, libudev_format_recognised) {
  auto r = parse_uevent(
      libudev(msg({"ACTION=add", "DEVPATH=/devices/virtual/net/x0", "SUBSYSTEM=net", "SEQNUM=7"})));
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_TRUE(r.event.libudev);
  EXPECT_EQ(r.event.action, "add");
  EXPECT_EQ(r.event.devpath, "/devices/virtual/net/x0");
  EXPECT_EQ(r.event.seqnum, 7u);
}

// A libudev header that lies (magic, offsets, lengths) is refused.
TEST(uevent_parser, libudev_bad_header_refused) {
  auto props = msg({"ACTION=add", "DEVPATH=/devices/x"});
  EXPECT_EQ(parse_uevent(libudev(props, 0xdeadbeef)).error, uevent_errc::bad_libudev_header);
  EXPECT_EQ(parse_uevent(libudev(props, 0xfeedcafe, 40, 100000)).error,
            uevent_errc::bad_libudev_header);
  EXPECT_EQ(parse_uevent(libudev(props, 0xfeedcafe, 0xfffffff0, 32)).error,
            uevent_errc::bad_libudev_header);
  EXPECT_EQ(parse_uevent(libudev(props, 0xfeedcafe, 40, 0)).error, uevent_errc::bad_libudev_header);
  EXPECT_EQ(parse_uevent(libudev(props, 0xfeedcafe, 12)).error, uevent_errc::bad_libudev_header);
  EXPECT_EQ(parse_uevent(std::string{"libudev\0\xfe\xed", 10}).error,
            uevent_errc::bad_libudev_header);
  EXPECT_EQ(parse_uevent(libudev(msg({"DEVPATH=/devices/x"}))).error, uevent_errc::bad_action);
  EXPECT_EQ(parse_uevent(libudev(msg({"ACTION=add"}))).error, uevent_errc::bad_devpath);
}

// Malformed messages: each is refused with its own error and a detail.
TEST(uevent_parser, malformed_refused) {
  struct bad {
    std::string bytes;
    uevent_errc error;
  };
  std::vector<bad> cases{
      {"", uevent_errc::empty},
      {msg({"add/devices/x", "A=B"}), uevent_errc::no_separator},
      {msg({"@/devices/x", "A=B"}), uevent_errc::bad_action},
      {msg({"ADD@/devices/x"}), uevent_errc::bad_action},
      {msg({"a-d@/devices/x"}), uevent_errc::bad_action},
      {msg({"averyveryverylongaction@/devices/x"}), uevent_errc::bad_action},
      {msg({"add@", "A=B"}), uevent_errc::bad_devpath},
      {msg({"add@devices/x"}), uevent_errc::bad_devpath},
      {msg({"add@/"}), uevent_errc::bad_devpath},
      {msg({"add@/devices//x"}), uevent_errc::bad_devpath},
      {msg({"add@/devices/../etc"}), uevent_errc::bad_devpath},
      {msg({"add@/devices/./x"}), uevent_errc::bad_devpath},
      {msg({"add@/devices/x/"}), uevent_errc::bad_devpath},
      {msg({"add@/devices/a\nb"}), uevent_errc::bad_devpath},
      {std::string{"add@/devices/x\0A=B", 18}, uevent_errc::not_terminated},
      {std::string{"add@/devices/x"}, uevent_errc::not_terminated},
      {msg({"add@/devices/x", "NOEQUALS"}), uevent_errc::bad_entry},
      {msg({"add@/devices/x", "=value"}), uevent_errc::bad_entry},
      {msg({"add@/devices/x", "BAD KEY=v"}), uevent_errc::bad_entry},
      {msg({"add@/devices/x", "K\x01=v"}), uevent_errc::bad_entry},
      {msg({"add@/devices/x", "A=1", "", "B=2"}), uevent_errc::bad_entry},
      {msg({"add@/devices/x", "A=1", "A=2"}), uevent_errc::bad_entry},
      {msg({"add@/devices/x", "ACTION=remove"}), uevent_errc::inconsistent},
      {msg({"add@/devices/x", "DEVPATH=/devices/y"}), uevent_errc::inconsistent},
      {msg({"add@/devices/x", "SEQNUM=12a"}), uevent_errc::inconsistent},
      {msg({"add@/devices/x", "SEQNUM=99999999999999999999999"}), uevent_errc::inconsistent},
      {msg({"move@/devices/x", "ACTION=move"}), uevent_errc::inconsistent},
      {msg({"move@/devices/x", "DEVPATH_OLD=relative"}), uevent_errc::bad_devpath},
  };
  for (const auto& c : cases) {
    auto r = parse_uevent(c.bytes);
    EXPECT_EQ(r.error, c.error) << "input '" << c.bytes << "' gave " << to_string(r.error) << ": "
                                << r.detail;
    EXPECT_FALSE(r.detail.empty());
    EXPECT_NE(to_string(r.error), "unknown error");
  }
}

// Oversized: too many bytes or too many entries.
TEST(uevent_parser, oversized_refused) {
  std::string big = "add@/devices/x";
  big += '\0';
  big += "A=" + std::string(max_uevent_size, 'x');
  big += '\0';
  EXPECT_EQ(parse_uevent(big).error, uevent_errc::too_large);
  std::string many = std::string{"add@/devices/x"} + '\0';
  for (size_t i = 0; i <= max_uevent_entries; ++i) {
    many += "K" + std::to_string(i) + "=v";
    many += '\0';
  }
  EXPECT_EQ(parse_uevent(many).error, uevent_errc::too_large);
}

// Every prefix of every captured message is either refused or a valid event;
// random bytes and random bit flips of real messages never crash.
TEST(uevent_parser, truncations_and_random_bytes_never_crash) {
  std::mt19937 rng{12345};
  for (const auto& m : uevent_fixture("veth_lifecycle.bin")) {
    for (size_t n = 0; n < m.size(); ++n) {
      auto r = parse_uevent(m.data(), n);
      if (r.ok()) {
        EXPECT_TRUE(valid_devpath(r.event.devpath));
      }
    }
    for (int i = 0; i < 200; ++i) {
      std::string flipped = m;
      flipped[rng() % flipped.size()] ^= static_cast<char>(1u << (rng() % 8));
      auto r = parse_uevent(flipped);
      EXPECT_TRUE(r.ok() || !r.detail.empty());
    }
  }
  for (int i = 0; i < 2000; ++i) {
    std::string junk(rng() % 300, '\0');
    for (auto& c : junk) {
      c = static_cast<char>(rng());
    }
    auto r = parse_uevent(junk);
    EXPECT_TRUE(r.ok() || !r.detail.empty());
  }
  EXPECT_EQ(parse_uevent(nullptr, 5).error, uevent_errc::empty);
}

// Devpath helpers: segments and validity.
TEST(uevent_parser, devpath_helpers) {
  EXPECT_EQ(devpath_segments("/devices/virtual/net/lo"),
            (std::vector<std::string>{"devices", "virtual", "net", "lo"}));
  EXPECT_TRUE(devpath_segments("/").empty());
  EXPECT_TRUE(valid_devpath("/devices/pci0000:00/0000:00:03.0"));
  EXPECT_FALSE(valid_devpath("/devices/.."));
  EXPECT_FALSE(valid_devpath(""));
}
