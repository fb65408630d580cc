// End to end: the developer loop. `myelin watch` rebuilds on a save, prints
// build errors and pushes what builds; `myelin new` scaffolds an app that
// builds against this tree's SDK and runs on a device after one push.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using myelin::test::booted_device;
using myelin::test::child_process;
using myelin::test::run;
using myelin::test::run_myelin;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

std::optional<std::string> call(int port, const std::string& app, const std::string& command) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(5s);
  auto res = cli.Post("/v1/apps/" + app + "/call", R"({"command":")" + command + R"("})",
                      "application/json");
  if (!res || res->status != 200) {
    return std::nullopt;
  }
  return nlohmann::json::parse(res->body)["reply"].get<std::string>();
}

}  // namespace

// watch: a save that does not build prints the error and pushes nothing; the
// next save that builds is pushed and answers. (The "build" is a CMake script
// that copies a prebuilt module, so the test needs no compiler.)
TEST(overlay_dev_loop, watch_rebuilds_reports_errors_and_pushes) {
  temp_dir src;
  write_file(src / "CMakeLists.txt",
             "cmake_minimum_required(VERSION 3.16)\nproject(w NONE)\n"
             "add_custom_target(hello COMMAND ${CMAKE_COMMAND} "
             "-DSRC=${CMAKE_SOURCE_DIR}/apps/hello/hello.src "
             "-DOUT=${CMAKE_BINARY_DIR}/apps/hello/libhello.so "
             "-P ${CMAKE_SOURCE_DIR}/build.cmake)\n");
  write_file(src / "build.cmake",
             "file(STRINGS ${SRC} line LIMIT_COUNT 1)\n"
             "if(line MATCHES \"^error\")\n"
             "  message(FATAL_ERROR \"hello.src:1: ${line}\")\n"
             "endif()\n"
             "configure_file(${line} ${OUT} COPYONLY)\n");
  fs::create_directories(src / "apps/hello");
  auto base = (myelin::test::bin_dir().parent_path() / "apps/hello/libhello.so").string();
  auto v2 = (fs::path{MYELIN_TEST_APPS_DIR} / "hello_v2/libhello_v2.so").string();
  write_file(src / "apps/hello/hello.src", base + "\n");
  auto build = (src / "build").string();
  auto configured =
      run("cmake -S " + shell_quote(src.path().string()) + " -B " + shell_quote(build));
  ASSERT_EQ(configured.exit_code, 0) << configured.output;

  booted_device dev{{"--set", "apps.fault.enabled=false", "--set", "apps.ticker.enabled=false"}};
  ASSERT_TRUE(dev.apps_ready());
  child_process watch{{myelin::test::bin("myelin"), "watch", "--device", dev.address(),
                       "--source-dir", src.path().string(), "--build-dir", build, "--rounds", "2",
                       "hello"}};
  // The first round at start: the base module, already on the device.
  ASSERT_TRUE(watch.wait_for_line("hello: up to date", 60s)) << watch.output();

  write_file(src / "apps/hello/hello.src", "error: 'greeting' was not declared in this scope\n");
  ASSERT_TRUE(watch.wait_for_line("build failed", 60s)) << watch.output();
  EXPECT_NE(watch.output().find("error: 'greeting' was not declared in this scope"),
            std::string::npos)
      << watch.output();
  EXPECT_EQ(call(dev.port, "hello", "hello"), "Hello from myelin, world!");

  write_file(src / "apps/hello/hello.src", v2 + "\n");
  ASSERT_TRUE(watch.wait_for_line("hello: 1 changed", 60s)) << watch.output();
  EXPECT_EQ(call(dev.port, "hello", "hello"), "Hello from pushed myelin, world!");
  auto status = watch.wait(20s);
  ASSERT_TRUE(status) << watch.output();
  EXPECT_EQ(myelin::test::exit_code_of(*status), 0);
}

// new: the scaffold configures and builds against this tree's SDK, and one
// push makes it run on a device that lists it (its priv/ data included).
TEST(overlay_dev_loop, new_app_builds_and_runs_after_one_push) {
  temp_dir work;
  auto r = run_myelin({"new", "greeter", "--dir", work.path().string(), "--sdk",
                       myelin::test::source_dir().string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(work / "greeter/CMakeLists.txt"));
  EXPECT_TRUE(fs::exists(work / "greeter/priv/greeting.txt"));
  EXPECT_NE(run_myelin({"new", "greeter", "--dir", work.path().string()}).exit_code, 0);
  EXPECT_NE(run_myelin({"new", "../x", "--dir", work.path().string()}).exit_code, 0);

  auto dir = (work / "greeter").string();
  auto build = (work / "greeter/build").string();
  auto b = run("cmake -S " + shell_quote(dir) + " -B " + shell_quote(build) +
               " -DCMAKE_BUILD_TYPE=Release && cmake --build " + shell_quote(build));
  ASSERT_EQ(b.exit_code, 0) << b.output;
  ASSERT_TRUE(fs::exists(work / "greeter/build/apps/greeter/libgreeter.so"));

  booted_device dev{{"--set", "apps.fault.enabled=false", "--set", "apps.ticker.enabled=false",
                     "--set", "apps.greeter.enabled=true"}};
  ASSERT_TRUE(dev.apps_ready());
  r = run_myelin({"push", "--device", dev.address(), "--build-dir", build, "greeter"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(call(dev.port, "greeter", "greet"), "Hello from greeter, world!");
}
