// Tests of app-host logging: spdlog records of an app reach a syslog server as
// the app's records; without a socket they go to stderr.
#include "myelin/runtime/log/app_log.hpp"

#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "myelin/runtime/log/syslog_server.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using namespace std::chrono_literals;

namespace {

// The default logger of an app host sends to $MYELIN_LOG_SOCKET; the server
// files the records under the app's name with their level.
TEST(app_log, records_reach_the_server_as_the_app) {
  myelin::test::temp_dir dir;
  logging_options o;
  o.console = "none";
  auto hub = std::make_shared<log_hub>(o);
  syslog_server srv{hub, {(dir / "log.sock").string()}};
  ASSERT_FALSE(srv.start());
  ::setenv(log_socket_env, srv.path().c_str(), 1);
  start_app_logging("unitapp");
  spdlog::warn("low on {}", "coffee");
  spdlog::get("supervisor")->error("child crashed");
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (hub->ring()->size() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  auto page = hub->ring()->query({});
  ASSERT_EQ(page.records.size(), 2u);
  EXPECT_EQ(page.records[0].origin, log_origin::app);
  EXPECT_EQ(page.records[0].source, "unitapp");
  EXPECT_EQ(page.records[0].level, spdlog::level::warn);
  EXPECT_EQ(page.records[0].message, "low on coffee");
  EXPECT_EQ(page.records[1].level, spdlog::level::err);
  ::unsetenv(log_socket_env);
}

// Without a log socket the lines go to stderr, not nowhere.
TEST(app_log, no_socket_falls_back_to_stderr) {
  ::unsetenv(log_socket_env);
  start_app_logging("lonely");
  testing::internal::CaptureStderr();
  spdlog::error("still heard");
  auto err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("lonely"), std::string::npos) << err;
  EXPECT_NE(err.find("still heard"), std::string::npos) << err;
}

}  // namespace
