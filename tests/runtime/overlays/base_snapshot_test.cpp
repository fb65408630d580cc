// Tests of runtime/src/overlays/base_snapshot.cpp: the host mode's copy of the base apps.
#include "myelin/runtime/overlays/base_snapshot.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

namespace fs = std::filesystem;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

void put(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  write_file(file, text);
}

}  // namespace

// The listed apps' trees are copied (data files too); a rebuild of the
// source afterwards does not reach the snapshot; unlisted directories (the
// build's CMakeFiles) are left out.
TEST(base_snapshot, copies_listed_apps_and_is_independent_of_the_source) {
  temp_dir dir;
  put(dir / "build/apps/hello/libhello.so", "v1");
  put(dir / "build/apps/hello/priv/greeting.txt", "Hello");
  put(dir / "build/apps/CMakeFiles/junk", "junk");
  auto to = (dir / "state/base").string();
  auto r =
      myelin::runtime::snapshot_base_apps((dir / "build/apps").string(), to, {"hello", "missing"});
  ASSERT_TRUE(r) << myelin::runtime::describe(r.error());
  EXPECT_EQ(*r, to);
  EXPECT_EQ(read_file(dir / "state/base/hello/libhello.so"), "v1");
  EXPECT_EQ(read_file(dir / "state/base/hello/priv/greeting.txt"), "Hello");
  EXPECT_FALSE(fs::exists(dir / "state/base/CMakeFiles"));
  EXPECT_FALSE(fs::exists(dir / "state/base/missing"));
  // The linker writes the module again: the snapshot keeps what was there.
  put(dir / "build/apps/hello/libhello.so", "v2");
  EXPECT_EQ(read_file(dir / "state/base/hello/libhello.so"), "v1");
  // The next boot takes the new build, and nothing else is left behind.
  ASSERT_TRUE(myelin::runtime::snapshot_base_apps((dir / "build/apps").string(), to, {"hello"}));
  EXPECT_EQ(read_file(dir / "state/base/hello/libhello.so"), "v2");
  size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator{dir / "state"}) {
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

// A snapshot that cannot be written fails with the path and replaces nothing.
TEST(base_snapshot, unwritable_target_fails_and_keeps_the_old_one) {
  temp_dir dir;
  put(dir / "build/apps/hello/libhello.so", "v1");
  put(dir / "file", "a file, not a directory");
  auto r = myelin::runtime::snapshot_base_apps((dir / "build/apps").string(),
                                               (dir / "file/base").string(), {"hello"});
  ASSERT_FALSE(r);
  EXPECT_NE(myelin::runtime::describe(r.error()).find((dir / "file").string()), std::string::npos)
      << myelin::runtime::describe(r.error());
  EXPECT_EQ(read_file(dir / "file"), "a file, not a directory");
}
