// Tests of the one process spawner (runtime/src/platform/spawn.cpp): the child starts
// with default handlers, an empty signal mask and only fds 0-2; a failed
// exec reports its errno; a timeout kills the program's whole group.
#include "myelin/runtime/platform/spawn.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using namespace std::chrono_literals;

namespace {

std::string field(const std::string& status, const std::string& name) {
  auto at = status.find(name + ":");
  if (at == std::string::npos) {
    return {};
  }
  auto start = status.find_first_not_of(" \t", at + name.size() + 1);
  return status.substr(start, status.find('\n', start) - start);
}

run_outcome run_ok(std::vector<std::string> argv) {
  run_options o;
  o.spawn.argv = std::move(argv);
  o.capture = true;
  o.timeout = 10s;
  auto r = run_program(std::move(o));
  EXPECT_TRUE(r) << describe(r.error());
  return r ? *r : run_outcome{};
}

void ignore_signal(int) {}

}  // namespace

// myelin blocks signals and installs handlers; its children must not inherit
// either (a shell script with SIGTERM blocked cannot be stopped).
TEST(spawn, child_has_default_handlers_and_empty_mask) {
  struct sigaction sa {};
  sa.sa_handler = ignore_signal;
  struct sigaction old_term {};
  struct sigaction old_pipe {};
  ASSERT_EQ(sigaction(SIGTERM, &sa, &old_term), 0);
  sigaction(SIGPIPE, nullptr, &old_pipe);
  signal(SIGPIPE, SIG_IGN);
  auto old_usr2 = signal(SIGUSR2, SIG_IGN);
  sigset_t block;
  sigset_t old_mask;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGINT);
  pthread_sigmask(SIG_BLOCK, &block, &old_mask);
  auto r = run_ok({"/bin/cat", "/proc/self/status"});
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  sigaction(SIGPIPE, &old_pipe, nullptr);
  signal(SIGUSR2, old_usr2);
  EXPECT_EQ(field(r.output, "SigBlk"), "0000000000000000") << r.output;
  EXPECT_EQ(field(r.output, "SigIgn"), "0000000000000000") << r.output;
  EXPECT_EQ(field(r.output, "SigCgt"), "0000000000000000") << r.output;
  EXPECT_EQ(WEXITSTATUS(r.status), 0);
}

// Only fds 0-2 reach the program, whatever the parent has open.
TEST(spawn, no_fd_leaks_into_the_child) {
  int leaky = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC on purpose
  ASSERT_GE(leaky, 3);
  auto r = run_ok({"/bin/ls", "/proc/self/fd"});
  ::close(leaky);
  // ls's own directory fd is 3.
  EXPECT_EQ(r.output, "0\n1\n2\n3\n");
}

// A failed exec says why, with the exec's errno.
TEST(spawn, exec_errno_reported) {
  spawn_options o;
  o.argv = {"/nonexistent/program"};
  auto missing = spawn(o);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), static_cast<uint8_t>(spawn_errc::exec_failed));
  EXPECT_EQ(describe(missing.error()),
            "cannot run /nonexistent/program: No such file or directory");
  myelin::test::temp_dir dir;
  auto plain = (dir / "not-executable").string();
  myelin::test::write_file(plain, "#!/bin/sh\n");
  ::chmod(plain.c_str(), 0644);
  o.argv = {plain};
  auto denied = spawn(o);
  ASSERT_FALSE(denied);
  EXPECT_NE(describe(denied.error()).find("Permission denied"), std::string::npos);
  o.argv = {"no-such-program-on-path"};
  o.search_path = true;
  EXPECT_FALSE(spawn(o));
  o.argv = {"true"};
  auto found = spawn(o);
  ASSERT_TRUE(found) << describe(found.error());
  int status = 0;
  ASSERT_EQ(::waitpid(found->pid, &status, 0), found->pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

// A timeout kills the program and what it started (its process group).
TEST(spawn, timeout_kills_the_group) {
  myelin::test::temp_dir dir;
  auto pidfile = (dir / "pid").string();
  run_options o;
  o.spawn.argv = {"/bin/sh", "-c", "sleep 30 & echo $! > " + pidfile + "; wait"};
  o.timeout = 300ms;
  auto start = std::chrono::steady_clock::now();
  auto r = run_program(std::move(o));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), static_cast<uint8_t>(spawn_errc::timed_out));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
  auto grandchild = std::stoi(myelin::test::read_file(pidfile));
  // Killed with its group (it may linger as a zombie of init for a moment).
  for (int i = 0; i < 100 && ::kill(grandchild, 0) == 0; ++i) {
    auto stat = myelin::test::read_file("/proc/" + std::to_string(grandchild) + "/stat");
    if (stat.find(") Z") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  auto stat = myelin::test::read_file("/proc/" + std::to_string(grandchild) + "/stat");
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
}

// Output: the beginning, or with keep_end the end; stderr merged on request.
TEST(spawn, captures_output) {
  run_options o;
  o.spawn.argv = {"/bin/sh", "-c", "echo out; echo err >&2; seq 1 1000"};
  o.capture = true;
  o.merge_stderr = true;
  o.keep_end = true;
  o.max_output = 9;
  auto r = run_program(o);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->output, "999\n1000\n");
  o.keep_end = false;
  auto head = run_program(o);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->output, "out\nerr\n1");
  EXPECT_EQ(describe_wait_status(head->status), "exited with code 0");
}
