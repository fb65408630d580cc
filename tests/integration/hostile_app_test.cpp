// Issue 18, decision 0078: the link is a trust boundary. A hostile app host
// (tests/tools/hostile_apphost.cpp) sends, after a well-formed hello, what
// no app host may: a message nested ~250,000 deep (which killed myelin-boot
// with SIGSEGV before), a list announcing 2^31 elements, a 2 MiB string, an
// actor handle, a 64 MiB frame header, random bytes, half a frame. Each such
// app host is ended with "protocol violation: …" in its status, while a probe
// through the control channel and the hello app never fails.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::bin;
using myelin::test::booted_device;

namespace {

/// Each mode of the hostile app host and what its status must say. Half a
/// frame and then an exit is not a violation the core can see (the link just
/// closes): that host simply ended.
const std::pair<const char*, const char*> modes[] = {
    {"deep", "protocol violation: a message nested deeper than 4"},
    {"seqlie", "protocol violation: a sequence of 2147483648 elements"},
    {"bigstring", "protocol violation: a sequence of 2097152 elements"},
    {"badtype", "protocol violation: type '@actor' is not allowed"},
    {"oversized", "protocol violation: link frame of 67108864 bytes refused"},
    {"garbage", "protocol violation: "},
    {"truncated", "exited"},
    {"flood", "protocol violation: more than 256 requests in flight"},
    {"subflood", "protocol violation: more than 1024 subscriptions held"},
    {"noread", "protocol violation: its host does not read its link"},
    {"blindpong", "protocol violation: a pong for a ping that was never sent"},
    {"fakereply", "protocol violation: a reply to call 12345, which was never made"},
};

nlohmann::json apps_of(int port) {
  httplib::Client cli{"127.0.0.1", port};
  cli.set_read_timeout(5, 0);
  auto res = cli.Get("/v1/apps");
  return res && res->status == 200 ? nlohmann::json::parse(res->body, nullptr, false)
                                   : nlohmann::json{};
}

std::string last_exit_of(const nlohmann::json& rows, const std::string& app) {
  if (!rows.is_array()) {
    return {};
  }
  for (const auto& r : rows) {
    if (r.value("name", "") == app) {
      return r.value("last_exit", "");
    }
  }
  return {};
}

}  // namespace

TEST(hostile_app, every_bad_frame_ends_only_that_app_host) {
#ifndef MYELIN_HOSTILE_APPHOST
  GTEST_SKIP() << "the hostile app host was not built";
#else
  ::setenv("MYELIN_REAL_APPHOST", bin("myelin-apphost").c_str(), 1);
  auto hello_module = (myelin::test::bin_dir().parent_path() / "apps/hello/libhello.so").string();
  std::vector<std::string> args{"--set", std::string{"apphost.path="} + MYELIN_HOSTILE_APPHOST};
  for (const auto& [m, why] : modes) {
    auto app = std::string{"apps.hostile_"} + m;
    for (const auto& kv : {app + ".module=" + hello_module, app + ".restart=temporary"}) {
      args.insert(args.end(), {"--set", kv});
    }
  }
  booted_device dev{args};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  // The probe: the control channel and an app, all along.
  std::atomic<bool> done{false};
  std::atomic<int> probes{0};
  std::atomic<int> failures{0};
  std::thread probe([&] {
    httplib::Client cli{"127.0.0.1", dev.port};
    cli.set_read_timeout(5, 0);
    while (!done) {
      auto health = cli.Get("/v1/health");
      auto kv = cli.Get("/v1/kv");
      ++probes;
      if (!health || health->status != 200 || !kv || kv->status != 200) {
        ++failures;
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  auto deadline = std::chrono::steady_clock::now() + 60s;
  size_t ended = 0;
  nlohmann::json rows;
  while (std::chrono::steady_clock::now() < deadline) {
    rows = apps_of(dev.port);
    ended = 0;
    for (const auto& [m, why] : modes) {
      ended += last_exit_of(rows, std::string{"hostile_"} + m).find(why) != std::string::npos;
    }
    if (ended == std::size(modes)) {
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  // A few more probes after the last one ended.
  std::this_thread::sleep_for(300ms);
  done = true;
  probe.join();
  EXPECT_EQ(ended, std::size(modes)) << rows.dump(2) << dev.proc->output();
  for (const auto& [m, why] : modes) {
    EXPECT_NE(last_exit_of(rows, std::string{"hostile_"} + m).find(why), std::string::npos)
        << m << ": " << last_exit_of(rows, std::string{"hostile_"} + m);
  }
  EXPECT_GT(probes.load(), 0);
  EXPECT_EQ(failures.load(), 0);
  // myelin-boot lives, and the other apps answer.
  EXPECT_FALSE(dev.proc->wait(0ms).has_value()) << dev.proc->output();
  httplib::Client cli{"127.0.0.1", dev.port};
  auto res = cli.Post("/v1/apps/hello/call", R"({"command":"hello"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
#endif
}
