// Tests of bootloader/src/apphost/apphost_args.cpp: myelin-apphost's command line.
#include "../../../bootloader/src/apphost/apphost_args.hpp"

#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

using myelin::bootloader::apphost_args;
using myelin::bootloader::parse_apphost_args;

namespace {

std::variant<apphost_args, std::string> parse(std::vector<const char*> args) {
  args.insert(args.begin(), "myelin-apphost");
  return parse_apphost_args(static_cast<int>(args.size()), args.data());
}

std::string error_of(const std::variant<apphost_args, std::string>& r) {
  auto* e = std::get_if<std::string>(&r);
  return e != nullptr ? *e : std::string{"(parsed)"};
}

}  // namespace

// What myelin-boot passes, in both spellings.
TEST(apphost_args, what_myelin_boot_passes) {
  auto r = parse({"--app", "hello", "--module", "/apps/hello/libhello.so", "--link-fd", "3",
                  "--scheduler-threads", "4", "--scheduler-policy", "stealing"});
  ASSERT_TRUE(std::holds_alternative<apphost_args>(r)) << error_of(r);
  const auto& a = std::get<apphost_args>(r);
  EXPECT_EQ(a.app, "hello");
  EXPECT_EQ(a.module, "/apps/hello/libhello.so");
  EXPECT_EQ(a.link_fd, 3);
  EXPECT_EQ(a.scheduler_threads, 4u);
  EXPECT_EQ(a.scheduler_policy, "stealing");
  auto eq = parse({"--app=x", "--module=/m.so", "--link-fd=7"});
  ASSERT_TRUE(std::holds_alternative<apphost_args>(eq)) << error_of(eq);
  EXPECT_EQ(std::get<apphost_args>(eq).link_fd, 7);
  EXPECT_EQ(std::get<apphost_args>(eq).scheduler_threads, 2u);
  EXPECT_EQ(std::get<apphost_args>(eq).scheduler_policy, "sharing");
}

// --version and --help need nothing else.
TEST(apphost_args, version_and_help_alone) {
  auto v = parse({"--version"});
  ASSERT_TRUE(std::holds_alternative<apphost_args>(v));
  EXPECT_TRUE(std::get<apphost_args>(v).version);
  auto h = parse({"--help"});
  ASSERT_TRUE(std::holds_alternative<apphost_args>(h));
  EXPECT_TRUE(std::get<apphost_args>(h).help);
}

// Every bad command line is refused with one line that says why.
TEST(apphost_args, bad_command_lines_refused) {
  EXPECT_EQ(error_of(parse({})), "--app is required");
  EXPECT_EQ(error_of(parse({"--app", "a", "--link-fd", "3"})), "--module is required");
  EXPECT_EQ(error_of(parse({"--app", "a", "--module", "m"})), "--link-fd is required");
  EXPECT_EQ(error_of(parse({"--app"})), "--app needs a value");
  EXPECT_EQ(error_of(parse({"--app="})), "--app needs a non-empty value");
  EXPECT_EQ(error_of(parse({"--frobnicate"})), "unknown argument '--frobnicate'");
  EXPECT_EQ(error_of(parse({"stray"})), "unknown argument 'stray'");
  EXPECT_EQ(error_of(parse({"--link-fd", "-1"})), "--link-fd: '-1' is not a file descriptor");
  EXPECT_EQ(error_of(parse({"--link-fd", "3x"})), "--link-fd: '3x' is not a file descriptor");
  EXPECT_EQ(error_of(parse({"--link-fd", "99999999999999999999"})),
            "--link-fd: '99999999999999999999' is not a file descriptor");
  EXPECT_EQ(error_of(parse({"--scheduler-threads", "0"})),
            "--scheduler-threads: '0' is not a number from 1 to 64");
  EXPECT_EQ(error_of(parse({"--scheduler-threads", "65"})),
            "--scheduler-threads: '65' is not a number from 1 to 64");
  EXPECT_EQ(error_of(parse({"--scheduler-policy", "fifo"})),
            "--scheduler-policy: 'fifo' is not sharing or stealing");
}

// --target: which start function the app runs ("host" is the default);
// a value that is no target name is refused.
TEST(apphost_args, target) {
  auto base = std::vector<const char*>{"--app", "x", "--module", "/m.so", "--link-fd", "3"};
  auto r = parse(base);
  ASSERT_TRUE(std::holds_alternative<apphost_args>(r)) << error_of(r);
  EXPECT_EQ(std::get<apphost_args>(r).target, "host");
  auto with = base;
  with.insert(with.end(), {"--target", "rpi4"});
  r = parse(with);
  ASSERT_TRUE(std::holds_alternative<apphost_args>(r)) << error_of(r);
  EXPECT_EQ(std::get<apphost_args>(r).target, "rpi4");
  for (const char* bad : {"--target=", "--target=a b", "--target=../x"}) {
    auto b = base;
    b.push_back(bad);
    EXPECT_NE(error_of(parse(b)).find("--target"), std::string::npos) << bad;
  }
}
