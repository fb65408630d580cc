// Tests of the log ring: sequence numbers, overwriting, queries with filters,
// tails, waiting, and messages made safe (control characters, cuts).
#include "myelin/runtime/log/log_ring.hpp"

#include <thread>

#include <gtest/gtest.h>

using namespace myelin::runtime;
using namespace std::chrono_literals;

namespace {

void fill(log_ring& ring, int n, const std::string& source = "kv") {
  for (int i = 1; i <= n; ++i) {
    ring.push(spdlog::level::info, log_origin::core, source, "m" + std::to_string(i));
  }
}

// Records get 1, 2, 3, ... and a query after `since` returns them in order.
TEST(log_ring, sequence_and_since) {
  log_ring ring{8, 256};
  fill(ring, 5);
  log_query q;
  q.since = 2;
  auto page = ring.query(q);
  ASSERT_EQ(page.records.size(), 3u);
  EXPECT_EQ(page.records[0].seq, 3u);
  EXPECT_EQ(page.records[2].message, "m5");
  EXPECT_EQ(page.next, 5u);
  EXPECT_EQ(page.first, 1u);
  EXPECT_EQ(page.last, 5u);
  EXPECT_EQ(page.dropped, 0u);
}

// A full ring overwrites the oldest and reports what a reader missed.
TEST(log_ring, overwrite_reports_dropped) {
  log_ring ring{4, 256};
  fill(ring, 10);
  EXPECT_EQ(ring.size(), 4u);
  EXPECT_EQ(ring.overwritten(), 6u);
  log_query q;
  q.since = 2;
  auto page = ring.query(q);
  EXPECT_EQ(page.first, 7u);
  EXPECT_EQ(page.dropped, 4u);
  ASSERT_EQ(page.records.size(), 4u);
  EXPECT_EQ(page.records.front().message, "m7");
}

// Without `since` a query is a tail: the newest `limit` matches, oldest first.
TEST(log_ring, tail) {
  log_ring ring{100, 256};
  fill(ring, 20);
  log_query q;
  q.limit = 3;
  auto page = ring.query(q);
  ASSERT_EQ(page.records.size(), 3u);
  EXPECT_EQ(page.records[0].message, "m18");
  EXPECT_EQ(page.records[2].message, "m20");
  EXPECT_EQ(page.next, 20u);
}

// Filters by source, origin and level; `next` covers everything looked at.
TEST(log_ring, filters) {
  log_ring ring{100, 256};
  ring.push(spdlog::level::debug, log_origin::app, "hello", "d");
  ring.push(spdlog::level::err, log_origin::app, "hello", "e");
  ring.push(spdlog::level::err, log_origin::core, "hello", "core named hello");
  ring.push(spdlog::level::warn, log_origin::kernel, "kernel", "k");
  log_query q;
  q.since = 0;
  q.origin = log_origin::app;
  q.source = "hello";
  q.min_level = spdlog::level::info;
  auto page = ring.query(q);
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].message, "e");
  EXPECT_EQ(page.next, 4u);
}

// A limit stops the scan, and `next` points at the last record returned.
TEST(log_ring, limit_sets_next) {
  log_ring ring{100, 256};
  fill(ring, 10);
  log_query q;
  q.since = 0;
  q.limit = 4;
  auto page = ring.query(q);
  ASSERT_EQ(page.records.size(), 4u);
  EXPECT_EQ(page.next, 4u);
}

// An empty ring answers empty pages.
TEST(log_ring, empty) {
  log_ring ring{4, 256};
  log_query q;
  EXPECT_TRUE(ring.query(q).records.empty());
  q.since = 7;
  auto page = ring.query(q);
  EXPECT_TRUE(page.records.empty());
  EXPECT_EQ(page.next, 7u);
  EXPECT_EQ(page.last, 0u);
}

// Control characters are escaped, so that a record cannot drive a terminal.
TEST(log_ring, control_characters_escaped) {
  log_ring ring{4, 256};
  ring.push(spdlog::level::info, log_origin::syslog, "syslog",
            std::string{"a\x1b[2Jb\nc\0d\te", 12});
  auto page = ring.query({});
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].message, "a\\x1b[2Jb\\x0ac\\x00d\te");
}

// Oversized messages are cut at max_message with a marker, never mid-character.
TEST(log_ring, oversized_cut) {
  log_ring ring{4, 64};
  ring.push(spdlog::level::info, log_origin::core, "kv", std::string(1000, 'x'));
  auto msg = ring.query({}).records.at(0).message;
  EXPECT_EQ(msg, std::string(64, 'x') + " [936 bytes cut]");
  std::string utf8;
  for (int i = 0; i < 40; ++i) {
    utf8 += "\xC3\xA9";  // é
  }
  auto cut = log_ring::clean(utf8, 63);
  EXPECT_EQ(cut.substr(0, 62), utf8.substr(0, 62));
  EXPECT_EQ(cut.substr(62), " [18 bytes cut]");
}

// wait_newer returns at once when there is something newer, else at the
// deadline, and wakes when a record arrives.
TEST(log_ring, wait_newer) {
  log_ring ring{4, 256};
  fill(ring, 1);
  EXPECT_TRUE(ring.wait_newer(0, std::chrono::steady_clock::now()));
  EXPECT_FALSE(ring.wait_newer(1, std::chrono::steady_clock::now() + 10ms));
  std::thread writer([&] { fill(ring, 1); });
  EXPECT_TRUE(ring.wait_newer(1, std::chrono::steady_clock::now() + 30s));
  writer.join();
}

// Severities map to spdlog levels as documented.
TEST(log_ring, severity_levels) {
  EXPECT_EQ(level_of_severity(0), spdlog::level::critical);
  EXPECT_EQ(level_of_severity(2), spdlog::level::critical);
  EXPECT_EQ(level_of_severity(3), spdlog::level::err);
  EXPECT_EQ(level_of_severity(4), spdlog::level::warn);
  EXPECT_EQ(level_of_severity(5), spdlog::level::info);
  EXPECT_EQ(level_of_severity(6), spdlog::level::info);
  EXPECT_EQ(level_of_severity(7), spdlog::level::debug);
  EXPECT_EQ(level_of_severity(191 % 8), spdlog::level::debug);
  EXPECT_EQ(parse_log_level("warn"), spdlog::level::warn);
  EXPECT_FALSE(parse_log_level("loud"));
}

}  // namespace
