// Tests of actors/src/firmware/firmware.cpp: erasing the application data, and
// factory_reset erasing the application partition before the reboot.
#include "myelin/actors/firmware.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/runtime/config/config.hpp"
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

namespace {

struct power_call {
  myelin::runtime::power_action action = myelin::runtime::power_action::halt;
  bool immediate = false;
  int count = 0;
};

/// Sends factory_reset to a firmware service with `opts`; the error, if any.
caf::error factory_reset(myelin::actors::firmware_options opts) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto fw = myelin::actors::firmware_start(std::move(opts))(sys, caf::message{});
  EXPECT_TRUE(fw);
  if (!fw) {
    return fw.error();
  }
  caf::error result;
  caf::scoped_actor self{sys};
  self->request(*fw, std::chrono::seconds{10}, myelin::actors::fw_factory_reset_atom::value)
      .receive([] {}, [&](caf::error& err) { result = std::move(err); });
  self->send_exit(*fw, caf::exit_reason::user_shutdown);
  return result;
}

}  // namespace

// factory_reset erases the app partition it was given, then asks for an
// immediate reboot.
TEST(factory_reset, erases_app_partition_then_reboots) {
  temp_dir dir;
  write_file(dir / "overlay", "x");
  auto partition = myelin::runtime::make_directory_partition(dir.path().string());
  partition->prepare();
  auto calls = std::make_shared<power_call>();
  myelin::actors::firmware_options opts;
  opts.app_partition = partition;
  opts.request_power = [calls](myelin::runtime::power_action a, const std::string&, bool now) {
    calls->action = a;
    calls->immediate = now;
    ++calls->count;
  };
  auto err = factory_reset(opts);
  EXPECT_FALSE(err) << myelin::runtime::describe(err);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  EXPECT_TRUE(partition->status().erased);
  EXPECT_EQ(calls->count, 1);
  EXPECT_EQ(calls->action, myelin::runtime::power_action::reboot);
  EXPECT_TRUE(calls->immediate);
}

// When the partition cannot be erased the request fails with the reason and
// no reboot is asked for.
TEST(factory_reset, erase_failure_no_reboot) {
  myelin::runtime::mounted_partition_options bad;
  bad.target = "/nonexistent-target";
  auto calls = std::make_shared<power_call>();
  myelin::actors::firmware_options opts;
  opts.app_partition = myelin::runtime::make_mounted_partition(bad);
  opts.request_power = [calls](myelin::runtime::power_action, const std::string&, bool) {
    ++calls->count;
  };
  auto err = factory_reset(opts);
  ASSERT_TRUE(err);
  EXPECT_NE(myelin::runtime::describe(err).find("app_partition.device is empty"), std::string::npos)
      << myelin::runtime::describe(err);
  EXPECT_EQ(calls->count, 0);
}
