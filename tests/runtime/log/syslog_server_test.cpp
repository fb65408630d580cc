// Tests of the syslog socket server on a real unix datagram socket: levels,
// idents and apps, malformed and over-long datagrams counted, the socket's
// life (stale socket replaced, live one refused, non-socket refused).
#include "myelin/runtime/log/syslog_server.hpp"

#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
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

/// Sends one datagram to `path` (blocking).
bool send_to(const std::string& path, const std::string& data) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto n =
      ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::close(fd);
  return n == static_cast<ssize_t>(data.size());
}

/// Waits until the ring holds `n` records (generous deadline).
bool ring_has(const log_hub& hub, size_t n) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (hub.ring()->size() < n && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  return hub.ring()->size() >= n;
}

// Datagrams arrive with their level and source; app idents become app records.
TEST(syslog_server, datagrams_reach_the_ring) {
  myelin::test::temp_dir dir;
  auto hub = quiet_hub();
  syslog_server_options o;
  o.path = (dir / "log.sock").string();
  syslog_server srv{hub, o};
  ASSERT_FALSE(srv.start());
  ASSERT_TRUE(send_to(o.path, "<11>Nov 22 05:40:01 sshd[9]: bad login"));
  ASSERT_TRUE(send_to(o.path, "<15>app/hello[42]: greeting Ada"));
  ASSERT_TRUE(send_to(o.path, "<12>plain text"));
  ASSERT_TRUE(ring_has(*hub, 3));
  auto page = hub->ring()->query({});
  ASSERT_EQ(page.records.size(), 3u);
  EXPECT_EQ(page.records[0].source, "syslog:sshd");
  EXPECT_EQ(page.records[0].origin, log_origin::syslog);
  EXPECT_EQ(page.records[0].level, spdlog::level::err);
  EXPECT_EQ(page.records[0].message, "bad login");
  EXPECT_EQ(page.records[1].origin, log_origin::app);
  EXPECT_EQ(page.records[1].source, "hello");
  EXPECT_EQ(page.records[1].level, spdlog::level::debug);
  EXPECT_EQ(page.records[2].source, "syslog");
  EXPECT_EQ(page.records[2].level, spdlog::level::warn);
  EXPECT_EQ(hub->counters().syslog_records, 3u);
}

// Malformed datagrams are counted; with text they are kept raw, empty ones not.
TEST(syslog_server, malformed_counted_and_kept) {
  myelin::test::temp_dir dir;
  auto hub = quiet_hub();
  syslog_server_options o;
  o.path = (dir / "log.sock").string();
  syslog_server srv{hub, o};
  ASSERT_FALSE(srv.start());
  ASSERT_TRUE(send_to(o.path, "no pri here"));
  ASSERT_TRUE(send_to(o.path, "<999>bad pri"));
  ASSERT_TRUE(send_to(o.path, ""));
  ASSERT_TRUE(send_to(o.path, "<14>t: fine"));
  ASSERT_TRUE(ring_has(*hub, 3));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (hub->counters().syslog_malformed < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(hub->counters().syslog_malformed, 3u);
  auto page = hub->ring()->query({});
  ASSERT_EQ(page.records.size(), 3u);
  EXPECT_NE(page.records[0].message.find("no pri here"), std::string::npos);
  EXPECT_NE(page.records[1].message.find("<999>bad pri"), std::string::npos);
  EXPECT_EQ(page.records[2].message, "fine");
}

// A datagram longer than the buffer is cut and counted, not lost.
TEST(syslog_server, oversized_datagram_cut) {
  myelin::test::temp_dir dir;
  auto hub = quiet_hub();
  syslog_server_options o;
  o.path = (dir / "log.sock").string();
  o.max_datagram = 4096;
  syslog_server srv{hub, o};
  ASSERT_FALSE(srv.start());
  ASSERT_TRUE(send_to(o.path, "<14>big: " + std::string(60000, 'z')));
  ASSERT_TRUE(ring_has(*hub, 1));
  EXPECT_EQ(hub->counters().syslog_truncated, 1u);
  auto msg = hub->ring()->query({}).records.at(0).message;
  EXPECT_NE(msg.find("bytes cut"), std::string::npos);
}

// A stale socket file is replaced; stop() removes the socket.
TEST(syslog_server, stale_socket_replaced) {
  myelin::test::temp_dir dir;
  auto path = (dir / "log.sock").string();
  {
    syslog_server first{quiet_hub(), {path}};
    ASSERT_FALSE(first.start());
    // Leave the socket file behind as a crashed process would.
    ASSERT_EQ(::link(path.c_str(), (dir / "keep.sock").c_str()), 0);
  }
  ASSERT_EQ(::rename((dir / "keep.sock").c_str(), path.c_str()), 0);
  auto hub = quiet_hub();
  syslog_server second{hub, {path}};
  ASSERT_FALSE(second.start());
  ASSERT_TRUE(send_to(path, "<14>x: after restart"));
  EXPECT_TRUE(ring_has(*hub, 1));
  second.stop();
  EXPECT_NE(::access(path.c_str(), F_OK), 0);
}

// A socket another server still serves is refused, and left alone.
TEST(syslog_server, live_socket_refused) {
  myelin::test::temp_dir dir;
  auto path = (dir / "log.sock").string();
  syslog_server first{quiet_hub(), {path}};
  ASSERT_FALSE(first.start());
  syslog_server second{quiet_hub(), {path}};
  auto err = second.start();
  ASSERT_TRUE(err);
  EXPECT_EQ(err.code(), static_cast<uint8_t>(log_errc::in_use));
  second.stop();
  EXPECT_EQ(::access(path.c_str(), F_OK), 0);
}

// A regular file at the path, a missing directory, a too-long path: clear errors.
TEST(syslog_server, bad_paths) {
  myelin::test::temp_dir dir;
  myelin::test::write_file(dir / "file", "not a socket");
  for (const std::string& path : {(dir / "file").string(), (dir / "no/such/dir.sock").string(),
                                  "/tmp/" + std::string(200, 'p'), std::string{}}) {
    syslog_server srv{quiet_hub(), {path}};
    auto err = srv.start();
    ASSERT_TRUE(err) << path;
    EXPECT_FALSE(describe(err).empty());
  }
  EXPECT_EQ(myelin::test::read_file(dir / "file"), "not a socket");
}

// Below the hub's level records are dropped (but still counted as received).
TEST(syslog_server, level_filter) {
  myelin::test::temp_dir dir;
  logging_options lo;
  lo.console = "none";
  lo.level = spdlog::level::warn;
  auto hub = std::make_shared<log_hub>(lo);
  syslog_server srv{hub, {(dir / "log.sock").string()}};
  ASSERT_FALSE(srv.start());
  ASSERT_TRUE(send_to(srv.path(), "<14>t: info is dropped"));
  ASSERT_TRUE(send_to(srv.path(), "<12>t: warning is kept"));
  ASSERT_TRUE(ring_has(*hub, 1));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (hub->counters().syslog_records < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(hub->ring()->size(), 1u);
  EXPECT_EQ(hub->ring()->query({}).records.at(0).message, "warning is kept");
}

}  // namespace

// Decision 0079: a record claiming app/<name> is that app's only when the
// kernel says the sender runs as that app's user (SO_PASSCRED).
TEST(syslog_server, another_user_cannot_log_as_an_app) {
  if (::geteuid() != 0) {
    GTEST_SKIP() << "needs root (senders of other uids)";
  }
  myelin::test::temp_dir dir;
  auto hub = quiet_hub();
  syslog_server_options o;
  o.path = (dir / "log.sock").string();
  syslog_server srv{hub, o};
  ASSERT_FALSE(srv.start());
  app_users::set("victim", 70400);
  // Sends `line` as `uid` from a child process.
  auto send_as = [&](uid_t uid, const std::string& line) {
    pid_t pid = ::fork();
    if (pid == 0) {
      if (::syscall(SYS_setresuid, uid, uid, uid) != 0) {
        ::_exit(2);
      }
      ::_exit(send_to(o.path, line) ? 0 : 1);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  };
  ASSERT_TRUE(send_as(70500, "<14>app/victim[7]: forged"));
  ASSERT_TRUE(send_as(70400, "<14>app/victim[8]: genuine"));
  ASSERT_TRUE(send_to(o.path, "<14>app/victim[9]: from the core's user"));
  ASSERT_TRUE(ring_has(*hub, 3));
  auto page = hub->ring()->query({});
  ASSERT_EQ(page.records.size(), 3u);
  EXPECT_EQ(page.records[0].origin, log_origin::syslog);
  EXPECT_EQ(page.records[0].source, "syslog:uid 70500");
  EXPECT_EQ(page.records[0].message, "[claims app/victim] forged");
  EXPECT_EQ(page.records[1].origin, log_origin::app);
  EXPECT_EQ(page.records[1].source, "victim");
  EXPECT_EQ(page.records[1].message, "genuine");
  EXPECT_EQ(page.records[2].origin, log_origin::app);
}
