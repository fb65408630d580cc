// Tests of runtime/src/platform/stop_signal.cpp: the stop signal and the service thread.
#include "myelin/runtime/platform/stop_signal.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

using myelin::runtime::service_thread;
using myelin::runtime::stop_signal;

// fire() wakes a poll on fd() and is seen by fired(); firing twice is harmless.
TEST(stop_signal, fire_wakes_poll) {
  stop_signal s;
  ASSERT_GE(s.fd(), 0);
  EXPECT_FALSE(s.fired());
  pollfd p{s.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&p, 1, 0), 0);
  s.fire();
  s.fire();
  EXPECT_TRUE(s.fired());
  EXPECT_EQ(::poll(&p, 1, 0), 1);
}

// A service thread runs its loop on a named thread until stop(), which joins;
// it can be started again, and stop() without a start does nothing.
TEST(service_thread, runs_named_until_stopped_and_restarts) {
  service_thread t;
  t.stop();
  EXPECT_FALSE(t.running());
  std::atomic<int> loops{0};
  std::atomic<bool> woke{false};
  std::string name;
  auto loop = [&](const stop_signal& stop) {
    if (loops++ == 0) {
      std::ifstream in("/proc/self/task/" + std::to_string(::syscall(SYS_gettid)) + "/comm");
      std::getline(in, name);
    }
    pollfd p{stop.fd(), POLLIN, 0};
    ::poll(&p, 1, 60000);  // only the stop signal ends this
    woke = stop.fired();
  };
  t.start("svc.test", loop);
  EXPECT_TRUE(t.running());
  t.stop();
  EXPECT_FALSE(t.running());
  EXPECT_TRUE(woke);
  EXPECT_EQ(name, "svc.test");
  woke = false;
  t.start("svc.test", loop);
  t.stop();
  EXPECT_TRUE(woke);
  EXPECT_EQ(loops, 2);
}
