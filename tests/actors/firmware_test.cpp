// Tests of actors/src/firmware.cpp: erasing the application data.
#include "myelin/actors/firmware.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "myelin/runtime/config.hpp"
#include "myelin/test/support.hpp"

using myelin::actors::erase_app_data;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;

// A directory is emptied, the directory itself kept.
TEST(erase_app_data, directory_emptied) {
  temp_dir dir;
  std::filesystem::create_directories(dir / "sub/deeper");
  write_file(dir / "a.db", "data");
  write_file(dir / "sub/deeper/b", "more");
  ASSERT_FALSE(erase_app_data(dir.path().string()));
  EXPECT_TRUE(std::filesystem::exists(dir.path()));
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// A device (here a file standing in for one) loses its first and last MiB,
// where file system superblocks live; the middle is left alone.
TEST(erase_app_data, device_head_and_tail_zeroed) {
  temp_dir dir;
  auto dev = dir / "part.img";
  write_file(dev, std::string(3 << 20, '\x55'));
  ASSERT_FALSE(erase_app_data(dev.string()));
  auto data = read_file(dev);
  ASSERT_EQ(data.size(), size_t{3} << 20);
  EXPECT_EQ(data.find_first_not_of('\0'), size_t{1} << 20);
  EXPECT_EQ(data.find_last_not_of('\0'), (size_t{2} << 20) - 1);
}

// Nothing configured: nothing to do. A missing path: an error naming it.
TEST(erase_app_data, empty_and_missing) {
  EXPECT_FALSE(erase_app_data(""));
  auto err = erase_app_data("/nonexistent/app-data");
  ASSERT_TRUE(err);
  EXPECT_NE(myelin::runtime::describe(err).find("/nonexistent/app-data"), std::string::npos);
}
