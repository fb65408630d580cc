// Tests of runtime/app_partition.cpp and the host implementation
// (directory_partition.cpp): option checks, status texts, configuration.
// The real implementation on loop devices: tests/integration/app_partition_test.cpp.
#include "myelin/runtime/partition/app_partition.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

mounted_partition_options valid_options() {
  mounted_partition_options o;
  o.device = "/dev/mmcblk0p4";
  o.target = "/root";
  o.fstype = "ext4";
  return o;
}

std::string check(const mounted_partition_options& o) {
  auto err = check_partition_options(o);
  return err ? describe(err) : std::string{};
}

}  // namespace

// A complete configuration passes; each known type passes.
TEST(app_partition, options_valid) {
  auto o = valid_options();
  EXPECT_EQ(check(o), "");
  for (const auto& t : known_partition_fstypes()) {
    o.fstype = t;
    EXPECT_EQ(check(o), "") << t;
  }
}

// Missing device, unknown type, relative or root target: errors naming the key.
TEST(app_partition, options_bad) {
  auto o = valid_options();
  o.device.clear();
  EXPECT_NE(check(o).find("app_partition.device is empty"), std::string::npos);
  o = valid_options();
  o.fstype = "btrfs";
  EXPECT_NE(check(o).find("app_partition.fstype 'btrfs'"), std::string::npos);
  o.fstype = "";
  EXPECT_NE(check(o).find("app_partition.fstype"), std::string::npos);
  o = valid_options();
  o.target = "root";
  EXPECT_NE(check(o).find("absolute"), std::string::npos);
  o.target = "/";
  EXPECT_NE(check(o).find("must not be /"), std::string::npos);
  o.target = "/root/..";
  EXPECT_NE(check(o).find("must not be /"), std::string::npos);
}

// The summary says what happened, and says loudly when state is volatile.
TEST(app_partition, summary_texts) {
  partition_status s;
  s.device = "/dev/mmcblk0p4";
  s.fstype = "ext4";
  s.target = "/root";
  s.outcome = partition_outcome::mounted;
  EXPECT_EQ(s.summary(), "mounted /dev/mmcblk0p4 (ext4) on /root");
  s.outcome = partition_outcome::remounted_rw;
  EXPECT_EQ(s.summary(), "remounted read-write: /dev/mmcblk0p4 (ext4) on /root");
  s.outcome = partition_outcome::formatted;
  s.reason = "bad superblock";
  EXPECT_EQ(s.summary(),
            "formatted because: bad superblock; mounted /dev/mmcblk0p4 (ext4) on /root");
  s.outcome = partition_outcome::unavailable;
  s.fallback = "tmpfs";
  EXPECT_NE(s.summary().find("UNAVAILABLE: bad superblock"), std::string::npos);
  EXPECT_NE(s.summary().find("lost at power off"), std::string::npos);
  EXPECT_EQ(to_string(partition_outcome::already_mounted), "already_mounted");
}

// Host mode: a plain directory is created, reported, and emptied by erase.
TEST(app_partition, directory_prepare_and_erase) {
  temp_dir dir;
  auto state = (dir / "state").string();
  auto p = make_directory_partition(state);
  auto s = p->prepare();
  EXPECT_EQ(s.kind, "directory");
  EXPECT_EQ(s.outcome, partition_outcome::directory);
  EXPECT_TRUE(s.durable);
  ASSERT_TRUE(std::filesystem::is_directory(state));
  std::filesystem::create_directories(dir / "state" / "overlays" / "1");
  write_file(dir / "state" / "overlays" / "1" / "x", "data");
  ASSERT_FALSE(p->erase());
  EXPECT_TRUE(std::filesystem::is_empty(state));
  EXPECT_TRUE(p->status().erased);
}

// A directory that cannot be created makes the host partition unavailable.
TEST(app_partition, directory_unavailable) {
  temp_dir dir;
  write_file(dir / "file", "x");
  auto p = make_directory_partition((dir / "file" / "state").string());
  auto s = p->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_FALSE(s.durable);
  EXPECT_NE(s.reason.find("cannot create"), std::string::npos);
}

// app_partition.enabled chooses the implementation; off (the default) is the
// host one on the state directory.
TEST(app_partition, config_chooses_implementation) {
  config cfg;
  EXPECT_FALSE(cfg.get_bool("app_partition.enabled"));
  EXPECT_EQ(make_app_partition(cfg, "/tmp/x")->status().kind, "directory");
  EXPECT_EQ(make_app_partition(cfg, "/tmp/x")->status().target, "/tmp/x");
  ASSERT_FALSE(apply_override(cfg, "app_partition.enabled=true"));
  ASSERT_FALSE(apply_override(cfg, "app_partition.device=/dev/mmcblk0p4"));
  ASSERT_FALSE(apply_override(cfg, "app_partition.fstype=f2fs"));
  auto p = make_app_partition(cfg, "/root/myelin");
  EXPECT_EQ(p->status().kind, "mount");
  EXPECT_EQ(p->status().device, "/dev/mmcblk0p4");
  EXPECT_EQ(p->status().target, "/root");
  EXPECT_EQ(p->status().fstype, "f2fs");
  EXPECT_EQ(p->status().outcome, partition_outcome::pending);
}

// The real implementation with a bad configuration reports it, mounts nothing
// and, without the tmpfs fallback, leaves the state on the root file system.
TEST(app_partition, mounted_bad_config_unavailable) {
  auto o = valid_options();
  o.device.clear();
  o.tmpfs_fallback = false;
  auto s = make_mounted_partition(o)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_FALSE(s.durable);
  EXPECT_EQ(s.fallback, "root file system");
  EXPECT_NE(s.summary().find("app_partition.device is empty"), std::string::npos);
}
