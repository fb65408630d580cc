// Tests of runtime/src/uevent/modprobe.cpp with a recording fake modprobe script (the
// real modprobe would load kernel modules on the test machine).
#include "myelin/runtime/uevent/modprobe.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;
using namespace std::chrono_literals;

namespace {

std::string fake_modprobe(const temp_dir& dir, const std::string& body) {
  auto path = dir / "modprobe";
  write_file(path, "#!/bin/sh\n" + body);
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path.string();
}

}  // namespace

// The aliases are passed after -a -q -b --, in order, in one run.
TEST(modprobe, runs_once_with_all_aliases) {
  temp_dir dir;
  auto prog = fake_modprobe(dir, "echo \"$@\" >> " + (dir / "calls").string() + "\n");
  auto r = run_modprobe(prog, {"pci:v1", "usb:v2", "-rf"}, 5s);
  EXPECT_TRUE(r.ok) << r.outcome;
  EXPECT_EQ(read_file(dir / "calls"), "-a -q -b -- pci:v1 usb:v2 -rf\n");
}

// Under -q an alias that no module claims exits 1 without a word (kmod and
// busybox alike): the usual case for most devices, not a failure.
TEST(modprobe, silent_exit_1_is_unmatched_aliases) {
  temp_dir dir;
  auto r = run_modprobe(fake_modprobe(dir, "exit 1\n"), {"pci:v0000DEAD"}, 5s);
  EXPECT_TRUE(r.ok) << r.outcome;
  EXPECT_TRUE(r.unmatched);
  EXPECT_EQ(r.outcome, "some aliases have no module");
}

// A failing modprobe, a missing one and a hanging one are reported, not thrown.
TEST(modprobe, failures_reported) {
  temp_dir dir;
  auto r = run_modprobe(
      fake_modprobe(dir,
                    "echo \"modprobe: ERROR: could not insert 'x': Unknown symbol\" >&2\nexit 1\n"),
      {"x"}, 5s);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.outcome, "exited with code 1: modprobe: ERROR: could not insert 'x': Unknown symbol");
  auto two = run_modprobe(fake_modprobe(dir, "exit 2\n"), {"x"}, 5s);
  EXPECT_FALSE(two.ok);
  EXPECT_EQ(two.outcome, "exited with code 2");
  auto missing = run_modprobe((dir / "nope").string(), {"x"}, 5s);
  EXPECT_FALSE(missing.ok);
  EXPECT_NE(missing.outcome.find("cannot run"), std::string::npos) << missing.outcome;
  temp_dir dir2;
  auto hung = run_modprobe(fake_modprobe(dir2, "exec sleep 30\n"), {"x"}, 200ms);
  EXPECT_FALSE(hung.ok);
  EXPECT_EQ(hung.outcome, "killed by signal 9 (timeout)");
}

// Modules named by the configuration: -a -- NAME..., not quiet, no blacklist;
// a silent exit 1 is a failure here (the module was asked for by name).
TEST(modprobe, load_modules_by_name) {
  temp_dir dir;
  auto prog = fake_modprobe(dir, "echo \"$@\" >> " + (dir / "calls").string() + "\n");
  auto r = load_modules(prog, {"softdog", "i2c-dev"}, 5s);
  EXPECT_TRUE(r.ok) << r.outcome;
  EXPECT_EQ(read_file(dir / "calls"), "-a -- softdog i2c-dev\n");
  temp_dir dir2;
  auto missing = load_modules(
      fake_modprobe(dir2, "echo \"modprobe: FATAL: Module nosuch not found\" >&2\nexit 1\n"),
      {"nosuch"}, 5s);
  EXPECT_FALSE(missing.ok);
  EXPECT_FALSE(missing.unmatched);
  EXPECT_EQ(missing.outcome, "exited with code 1: modprobe: FATAL: Module nosuch not found");
  auto silent = load_modules(fake_modprobe(dir2, "exit 1\n"), {"x"}, 5s);
  EXPECT_FALSE(silent.ok);
}
