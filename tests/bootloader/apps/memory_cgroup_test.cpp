// Tests of bootloader/src/apps/memory_cgroup.cpp: finding this process's cgroup v2
// directory from /proc/self/mountinfo and /proc/self/cgroup.
#include "myelin/bootloader/memory_cgroup.hpp"

#include <gtest/gtest.h>

using myelin::bootloader::memory_cgroup;

namespace {

const char* v2_mounts =
    "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
    "30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 "
    "rw,nsdelegate,memory_recursiveprot\n";

const char* hybrid_mounts =
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

}  // namespace

// The cgroup2 mount joined with the "0::" path; the root cgroup is the mount.
TEST(memory_cgroup, own_directory_found) {
  auto dir = memory_cgroup::own_directory(v2_mounts, "0::/system.slice/myelin.service\n");
  ASSERT_TRUE(dir);
  EXPECT_EQ(*dir, "/sys/fs/cgroup/system.slice/myelin.service");
  auto root = memory_cgroup::own_directory(v2_mounts, "0::/\n");
  ASSERT_TRUE(root);
  EXPECT_EQ(*root, "/sys/fs/cgroup");
  auto hybrid = memory_cgroup::own_directory(hybrid_mounts, "4:memory:/x\n0::/\n");
  ASSERT_TRUE(hybrid);
  EXPECT_EQ(*hybrid, "/sys/fs/cgroup/unified");
}

// No cgroup2 mount, no "0::" line, or a path that is not absolute or climbs:
// an error saying why (callers fall back to RLIMIT_AS).
TEST(memory_cgroup, unusable_hierarchies_refused) {
  EXPECT_FALSE(memory_cgroup::own_directory("22 1 0:21 / /proc rw - proc proc rw\n", "0::/\n"));
  EXPECT_FALSE(memory_cgroup::own_directory(v2_mounts, "4:memory:/x\n"));
  EXPECT_FALSE(memory_cgroup::own_directory(v2_mounts, "0::relative\n"));
  EXPECT_FALSE(memory_cgroup::own_directory(v2_mounts, "0::/a/../../etc\n"));
  EXPECT_FALSE(memory_cgroup::own_directory(v2_mounts, "0::\n"));
  EXPECT_FALSE(memory_cgroup::own_directory("", ""));
  EXPECT_FALSE(memory_cgroup::own_directory("garbage without dash\n - \n", "0::/\n"));
}
