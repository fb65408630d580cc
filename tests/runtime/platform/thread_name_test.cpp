// Tests of runtime/src/platform/thread_name.cpp.
#include "myelin/runtime/platform/thread_name.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include <gtest/gtest.h>

using myelin::runtime::name_this_thread;

namespace {

std::string name_of(long tid) {
  std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name;
}

}  // namespace

// A name shows in /proc; a long one is cut to Linux's 15 characters, not refused.
TEST(thread_name, names_the_calling_thread_and_cuts_long_names) {
  std::string short_name;
  std::string long_name;
  std::thread t{[&] {
    auto tid = ::syscall(SYS_gettid);
    name_this_thread("uevent.read");
    short_name = name_of(tid);
    name_this_thread("a.name.longer.than.fifteen");
    long_name = name_of(tid);
  }};
  t.join();
  EXPECT_EQ(short_name, "uevent.read");
  EXPECT_EQ(long_name, "a.name.longer.t");
}
