// Tests of the kmsg tailer's handling of reads: levels, lost records (EPIPE and
// sequence gaps), malformed records kept, myelin's own lines skipped; and the
// real /dev/kmsg read by the thread.
#include "myelin/runtime/log/kmsg_tailer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include <gtest/gtest.h>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using namespace std::chrono_literals;

namespace {

std::shared_ptr<log_hub> quiet_hub() {
  logging_options o;
  o.console = "none";
  o.level = spdlog::level::trace;
  return std::make_shared<log_hub>(o);
}

bool feed(kmsg_tailer& t, const std::string& s) {
  return t.on_read(static_cast<long>(s.size()), 0, s);
}

// Records land in the ring as "kernel" with their level.
TEST(kmsg_tailer, records_with_levels) {
  auto hub = quiet_hub();
  kmsg_tailer t{hub, {}};
  EXPECT_TRUE(feed(t, "3,10,100,-;disk on fire\n"));
  EXPECT_TRUE(feed(t, "7,11,101,-;debug chatter\n SUBSYSTEM=x\n"));
  auto page = hub->ring()->query({});
  ASSERT_EQ(page.records.size(), 2u);
  EXPECT_EQ(page.records[0].source, "kernel");
  EXPECT_EQ(page.records[0].origin, log_origin::kernel);
  EXPECT_EQ(page.records[0].level, spdlog::level::err);
  EXPECT_EQ(page.records[1].level, spdlog::level::debug);
  EXPECT_EQ(page.records[1].message, "debug chatter");
  EXPECT_EQ(hub->counters().kmsg_records, 2u);
}

// EPIPE is counted as an overrun; the gap in sequence numbers as lost records.
TEST(kmsg_tailer, epipe_and_gaps_counted) {
  auto hub = quiet_hub();
  kmsg_tailer t{hub, {}};
  feed(t, "6,100,1,-;a");
  EXPECT_TRUE(t.on_read(-1, EPIPE, {}));
  feed(t, "6,150,2,-;b");
  EXPECT_EQ(hub->counters().kmsg_overruns, 1u);
  EXPECT_EQ(hub->counters().kmsg_lost, 49u);
  EXPECT_EQ(hub->counters().kmsg_last_seq, 150u);
}

// Records at or below the last sequence read (a restarted tailer) are skipped.
TEST(kmsg_tailer, no_record_twice) {
  auto hub = quiet_hub();
  {
    kmsg_tailer t{hub, {}};
    feed(t, "6,5,1,-;first");
  }
  kmsg_tailer again{hub, {}};
  feed(again, "6,5,1,-;first");
  feed(again, "6,6,1,-;second");
  EXPECT_EQ(hub->ring()->size(), 2u);
  EXPECT_EQ(hub->counters().kmsg_lost, 0u);
}

// A malformed record is counted and kept as raw text.
TEST(kmsg_tailer, malformed_kept) {
  auto hub = quiet_hub();
  kmsg_tailer t{hub, {}};
  feed(t, "this is not a record");
  EXPECT_EQ(hub->counters().kmsg_malformed, 1u);
  auto page = hub->ring()->query({});
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_NE(page.records[0].message.find("this is not a record"), std::string::npos);
}

// Lines myelin wrote to /dev/kmsg itself are not read back.
TEST(kmsg_tailer, own_lines_skipped) {
  auto hub = quiet_hub();
  kmsg_tailer t{hub, {}};
  feed(t, "14,1,1,-;myelin[1]: [kv] hello");
  feed(t, "6,2,1,-;myelin[1]: a kernel line that looks alike");
  EXPECT_EQ(hub->ring()->size(), 1u);
}

// EAGAIN and EINTR keep reading; other errors stop the tailer.
TEST(kmsg_tailer, read_errors) {
  auto hub = quiet_hub();
  kmsg_tailer t{hub, {}};
  EXPECT_TRUE(t.on_read(-1, EAGAIN, {}));
  EXPECT_TRUE(t.on_read(-1, EINTR, {}));
  EXPECT_FALSE(t.on_read(-1, EIO, {}));
}

// A missing device is a clear start error.
TEST(kmsg_tailer, missing_device) {
  auto hub = quiet_hub();
  kmsg_tailer_options o;
  o.path = "/nonexistent/kmsg";
  kmsg_tailer t{hub, o};
  auto err = t.start();
  ASSERT_TRUE(err);
  EXPECT_NE(describe(err).find("/nonexistent/kmsg"), std::string::npos);
}

// The thread reads the real /dev/kmsg: a line written there (as root) arrives
// with its level.
TEST(kmsg_tailer, real_device) {
  MYELIN_REQUIRE_ROOT();
  if (::access("/dev/kmsg", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "/dev/kmsg is not readable and writable here";
  }
  auto hub = quiet_hub();
  kmsg_tailer_options o;
  o.replay = false;
  kmsg_tailer t{hub, o};
  ASSERT_FALSE(t.start());
  auto marker = "myelin-kmsg-unit-" + std::to_string(::getpid());
  int fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  auto line = "<3>" + marker + "\n";
  ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  ::close(fd);
  bool found = false;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!found && std::chrono::steady_clock::now() < deadline) {
    for (const auto& r : hub->ring()->query({}).records) {
      if (r.message == marker) {
        EXPECT_EQ(r.level, spdlog::level::err);
        found = true;
      }
    }
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(found);
  t.stop();
}

}  // namespace
