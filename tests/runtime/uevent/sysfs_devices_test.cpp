// Tests of runtime/src/uevent/sysfs_devices.cpp on a fake sysfs tree in a temporary
// directory (the real /sys is driven by tests/integration/uevent_test.cpp).
#include "myelin/runtime/uevent/sysfs_devices.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace fs = std::filesystem;

namespace {

/// <root>/devices/{platform/serial0, virtual/net/lo} with uevent files and
/// subsystem links, a directory without uevent, and a symlink loop.
void make_tree(const fs::path& root) {
  fs::create_directories(root / "devices/platform/serial0");
  fs::create_directories(root / "devices/virtual/net/lo");
  fs::create_directories(root / "devices/virtual/empty");
  fs::create_directories(root / "class/net");
  fs::create_directories(root / "bus/platform");
  write_file(root / "devices/platform/serial0/uevent",
             "DRIVER=serial8250\nMODALIAS=platform:serial8250\n");
  write_file(root / "devices/virtual/net/lo/uevent", "INTERFACE=lo\nIFINDEX=1\n");
  fs::create_directory_symlink("../../../../class/net", root / "devices/virtual/net/lo/subsystem");
  fs::create_directory_symlink("../../../bus/platform",
                               root / "devices/platform/serial0/subsystem");
  // A link back up must not be followed.
  fs::create_directory_symlink("../..", root / "devices/virtual/net/lo/loop");
}

}  // namespace

// coldplug writes "add" into every uevent file under devices/, following no links.
TEST(sysfs_devices, coldplug_writes_add_everywhere) {
  temp_dir dir;
  make_tree(dir.path());
  auto r = coldplug(dir.path().string());
  EXPECT_EQ(r.written, 2u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(read_file(dir / "devices/platform/serial0/uevent"), "add");
  EXPECT_EQ(read_file(dir / "devices/virtual/net/lo/uevent"), "add");
}

// A missing sysfs is no error: nothing to write, nothing scanned.
TEST(sysfs_devices, missing_sysfs_is_empty) {
  temp_dir dir;
  EXPECT_EQ(coldplug((dir / "nothing").string()).written, 0u);
  EXPECT_TRUE(scan_devices((dir / "nothing").string()).empty());
}

// scan reads the properties (lowercase keys) and the subsystem link's name.
TEST(sysfs_devices, scan_reads_properties_and_subsystem) {
  temp_dir dir;
  make_tree(dir.path());
  auto rows = scan_devices(dir.path().string());
  ASSERT_EQ(rows.size(), 2u);
  auto lo = rows.at({"devices", "virtual", "net", "lo"});
  EXPECT_EQ(lo, (uevent_properties{{"interface", "lo"}, {"ifindex", "1"}, {"subsystem", "net"}}));
  auto serial = rows.at({"devices", "platform", "serial0"});
  EXPECT_EQ(serial.at("modalias"), "platform:serial8250");
  EXPECT_EQ(serial.at("subsystem"), "platform");
}

// When <sysfs>/devices is a link into a subtree, devpaths are still the real ones.
TEST(sysfs_devices, scan_through_linked_root_keeps_real_devpaths) {
  temp_dir dir;
  make_tree(dir / "sys");
  fs::create_directories(dir / "view");
  fs::create_directory_symlink(dir / "sys/devices/virtual/net", dir / "view/devices");
  auto rows = scan_devices((dir / "view").string());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows.begin()->first, (uevent_table::key{"devices", "virtual", "net", "lo"}));
  EXPECT_EQ(coldplug((dir / "view").string()).written, 1u);
}
