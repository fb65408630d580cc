// Issue 18: every mode of the hostile app host (tests/tools/hostile_apphost)
// beside the real apps, with a probe of the core through the control
// channel every 5 ms. The core must answer every probe, whatever the app
// hosts send, and end each of them.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"

namespace myelin::bench {

namespace {

using namespace std::chrono_literals;

const char* const modes[] = {"deep",      "seqlie",  "bigstring", "badtype",
                             "oversized", "garbage", "truncated", "flood",
                             "subflood",  "noread",  "blindpong", "fakereply"};

int hostile_scenario(const std::vector<std::string>&) {
  auto build = std::string{bin_dir()} + "/..";
  auto hostile = build + "/tests/hostile_apphost";
  auto hello = build + "/apps/hello/libhello.so";
  struct stat st {};
  if (::stat(hostile.c_str(), &st) != 0) {
    std::cerr << "hostile: " << hostile << " is not built (it is part of the test build)\n";
    return 1;
  }
  ::setenv("MYELIN_REAL_APPHOST", (std::string{bin_dir()} + "/myelin-apphost").c_str(), 1);
  std::vector<std::string> args{"--set", "apphost.path=" + hostile};
  for (const char* m : modes) {
    auto app = std::string{"apps.hostile_"} + m;
    args.insert(args.end(),
                {"--set", app + ".module=" + hello, "--set", app + ".restart=temporary"});
  }
  device dev(args);
  if (!dev.wait_for("ready in", 20s)) {
    std::cerr << "hostile: myelin-boot did not get ready\n";
    return 1;
  }
  std::atomic<bool> done{false};
  std::atomic<int> probes{0};
  std::atomic<int> failures{0};
  std::atomic<long> peak_rss{0};
  std::atomic<double> slowest_ms{0};
  std::thread probe([&] {
    httplib::Client cli{"127.0.0.1", dev.port()};
    cli.set_read_timeout(5, 0);
    while (!done) {
      auto t0 = std::chrono::steady_clock::now();
      auto health = cli.Get("/v1/health");
      auto kv = cli.Get("/v1/kv");
      auto ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      slowest_ms = std::max(slowest_ms.load(), ms);
      ++probes;
      if (!health || health->status != 200 || !kv || kv->status != 200) {
        ++failures;
      }
      peak_rss = std::max(peak_rss.load(), rss_kb(dev.pid()));
      std::this_thread::sleep_for(5ms);
    }
  });
  // Until every hostile host is gone (its status says why), and at least
  // 3 s; at most 60 s.
  size_t ended = 0;
  auto start = std::chrono::steady_clock::now();
  for (auto deadline = start + 60s; std::chrono::steady_clock::now() < deadline;
       std::this_thread::sleep_for(50ms)) {
    dev.drain();
    ended = 0;
    httplib::Client cli{"127.0.0.1", dev.port()};
    auto res = cli.Get("/v1/apps");
    if (!res || res->status != 200) {
      continue;
    }
    auto rows = nlohmann::json::parse(res->body, nullptr, false);
    for (const auto& row : rows.is_array() ? rows : nlohmann::json::array()) {
      // A hostile host that ended has a last exit (the reason it was ended).
      if (row.value("name", "").rfind("hostile_", 0) == 0 && !row.value("last_exit", "").empty() &&
          row.value("state", "") != "running") {
        ++ended;
      }
    }
    if (ended == std::size(modes) && std::chrono::steady_clock::now() - start > 3s) {
      break;
    }
  }
  std::this_thread::sleep_for(300ms);
  done = true;
  probe.join();
  bool alive = ::kill(dev.pid(), 0) == 0;
  result("hostile_app_core_probe_failures", failures.load() + (alive ? 0 : 1), "count");
  result("hostile_app_core_probes", probes.load(), "count");
  result("hostile_app_modes_ended", static_cast<double>(ended), "count");
  result("hostile_app_core_probe_slowest_ms", slowest_ms.load(), "ms");
  result("hostile_app_boot_rss_peak_kb", static_cast<double>(peak_rss.load()), "kB");
  return ended == std::size(modes) && failures == 0 && alive ? 0 : 1;
}

}  // namespace

MYELIN_BENCH_SCENARIO("hostile",
                      "every mode of the hostile app host beside the real apps, the core probed "
                      "every 5 ms (probe failures must be 0)",
                      hostile_scenario);

}  // namespace myelin::bench
