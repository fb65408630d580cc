// Tests of runtime/mount_table.cpp: mountinfo read with libmount, mounts found
// by target and by source (fixtures in tests/data/mountinfo/).
#include "myelin/runtime/partition/mount_table.hpp"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

std::string fixture(const std::string& name) {
  return (myelin::test::source_dir() / "tests" / "data" / "mountinfo" / name).string();
}

mount_table load_fixture(const std::string& name) {
  auto t = mount_table::load(fixture(name));
  EXPECT_TRUE(t) << describe(t.error());
  return t ? *t : mount_table{};
}

}  // namespace

// Every line of a Nerves-like table is read with its fields.
TEST(mount_table, nerves_fixture_fields) {
  auto t = load_fixture("nerves-rpi.txt");
  ASSERT_EQ(t.entries().size(), 10u);
  EXPECT_EQ(t.bad_lines(), 0u);
  const auto& root = t.entries().front();
  EXPECT_EQ(root.id, 15);
  EXPECT_EQ(root.target, "/");
  EXPECT_EQ(root.source, "/dev/root");
  EXPECT_EQ(root.fstype, "squashfs");
  EXPECT_EQ(root.devno, makedev(179, 2));
  EXPECT_TRUE(root.read_only);
}

// The app partition is found at its target, read-write, with its options.
TEST(mount_table, find_by_target_app_partition) {
  auto t = load_fixture("nerves-rpi.txt");
  auto m = t.find_by_target("/root");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->source, "/dev/mmcblk0p4");
  EXPECT_EQ(m->fstype, "ext4");
  EXPECT_EQ(m->vfs_options, "rw,nodev,relatime");
  EXPECT_FALSE(m->read_only);
  EXPECT_EQ(m->parent_id, 15);
}

// A trailing slash or "." in the target does not matter.
TEST(mount_table, find_by_target_normalises) {
  auto t = load_fixture("nerves-rpi.txt");
  ASSERT_TRUE(t.find_by_target("/root/"));
  ASSERT_TRUE(t.find_by_target("/root/."));
  EXPECT_EQ(t.find_by_target("/sys/kernel/debug/")->fstype, "debugfs");
}

// A path with no mount of its own is not found (its parent's mount is not it).
TEST(mount_table, find_by_target_absent) {
  auto t = load_fixture("nerves-rpi.txt");
  EXPECT_FALSE(t.find_by_target("/data"));
  EXPECT_FALSE(t.find_by_target("/root/myelin"));
  EXPECT_FALSE(t.find_by_target(""));
}

// "ro" in the super block options makes the mount read-only even when the
// per-mount options say rw.
TEST(mount_table, read_only_super_block) {
  auto t = load_fixture("nerves-rpi-ro.txt");
  auto m = t.find_by_target("/root");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->vfs_options, "rw,nodev,relatime");
  EXPECT_TRUE(m->read_only);
  EXPECT_TRUE(t.find_by_target("/boot")->read_only);
  EXPECT_FALSE(t.find_by_target("/tmp")->read_only);
}

// With two mounts at one target the visible (last) one is returned.
TEST(mount_table, find_by_target_overmount_returns_top) {
  auto t = load_fixture("overmounted.txt");
  auto m = t.find_by_target("/root");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->fstype, "tmpfs");
  EXPECT_EQ(m->id, 31);
}

// The device is found by its path, wherever it is mounted; the overmount does
// not hide it.
TEST(mount_table, find_by_source_path) {
  auto t = load_fixture("overmounted.txt");
  auto all = t.find_by_source("/dev/mmcblk0p4");
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].target, "/root");
  EXPECT_TRUE(t.find_by_source("/dev/mmcblk0p9").empty());
  EXPECT_TRUE(t.find_by_source("").empty());
}

// A symlink to the device (as under /dev/disk/by-label) finds the mount of
// the device it points to.
TEST(mount_table, find_by_source_resolves_symlinks) {
  temp_dir dir;
  write_file(dir / "mmcblk0p4", "");
  std::filesystem::create_directories(dir / "by-label");
  std::filesystem::create_symlink("../mmcblk0p4", dir / "by-label" / "APPDATA");
  auto dev = (dir / "mmcblk0p4").string();
  write_file(dir / "mountinfo",
             "15 1 179:2 / / ro,relatime - squashfs /dev/root ro\n"
             "23 15 179:4 / /root rw,relatime - ext4 " +
                 dev + " rw\n");
  auto t = mount_table::load((dir / "mountinfo").string());
  ASSERT_TRUE(t);
  auto all = t->find_by_source((dir / "by-label" / "APPDATA").string());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].target, "/root");
}

// A block device node with the major:minor of a mount finds it even when
// mountinfo names the device differently (as "/dev/root").
TEST(mount_table, find_by_source_devno) {
  MYELIN_REQUIRE_ROOT();
  auto live = mount_table::load();
  ASSERT_TRUE(live);
  auto root = live->find_by_target("/");
  ASSERT_TRUE(root);
  if (major(root->devno) == 0) {
    GTEST_SKIP() << "the root file system here is not on a block device (" << root->source << ")";
  }
  temp_dir dir;
  auto node = (dir / "another-name").string();
  ASSERT_EQ(::mknod(node.c_str(), S_IFBLK | 0600, root->devno), 0) << std::strerror(errno);
  auto all = live->find_by_source(node);
  bool found = false;
  for (const auto& m : all) {
    found = found || m.target == "/";
  }
  EXPECT_TRUE(found) << "no mount of " << major(root->devno) << ":" << minor(root->devno);
}

// Octal escapes in targets (space, tab) are decoded.
TEST(mount_table, escaped_target) {
  auto t = load_fixture("escaped.txt");
  auto m = t.find_by_target("/media/app data\tx");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->source, "/dev/sdb1");
}

// Malformed lines are skipped and counted; the valid ones are still read.
TEST(mount_table, malformed_lines_skipped) {
  auto t = mount_table::load(fixture("malformed.txt"));
  ASSERT_TRUE(t) << describe(t.error());
  EXPECT_GT(t->bad_lines(), 0u);
  EXPECT_TRUE(t->find_by_target("/"));
  auto m = t->find_by_target("/root");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->source, "/dev/mmcblk0p4");
  EXPECT_FALSE(t->find_by_target("/bad"));
}

// Hostile input — binary bytes, NULs, an enormous line — is survived.
TEST(mount_table, hostile_input) {
  temp_dir dir;
  std::string junk = "15 1 179:2 / / ro - squashfs /dev/root ro\n";
  junk += std::string(200000, 'A') + "\n";
  junk += std::string("23 15 179:4 / /ro\0ot rw - ext4 /dev/x rw\n", 41);
  for (int i = 0; i < 256; ++i) {
    junk += static_cast<char>(i);
  }
  junk += "\n23 15 179:4 / /root rw - ext4 /dev/mmcblk0p4 rw";  // no final newline
  write_file(dir / "mountinfo", junk);
  auto t = mount_table::load((dir / "mountinfo").string());
  ASSERT_TRUE(t) << describe(t.error());
  EXPECT_TRUE(t->find_by_target("/"));
}

// A file that does not exist is an error naming it; an empty one is an empty table.
TEST(mount_table, missing_and_empty) {
  auto missing = mount_table::load("/nonexistent/mountinfo");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), static_cast<uint8_t>(mount_errc::unreadable_table));
  EXPECT_NE(describe(missing.error()).find("/nonexistent/mountinfo"), std::string::npos);
  temp_dir dir;
  write_file(dir / "empty", "");
  auto empty = mount_table::load((dir / "empty").string());
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->entries().empty());
}

// This process's own table has a root file system.
TEST(mount_table, live_table_has_root) {
  auto t = mount_table::load();
  ASSERT_TRUE(t) << describe(t.error());
  EXPECT_TRUE(t->find_by_target("/"));
  EXPECT_TRUE(t->find_by_target("/proc"));
}
