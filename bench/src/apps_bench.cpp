// Benchmarks of the boot layer and the app hosts: boot time and memory,
// recovery of a crashed app, and the round trip from an app to a core service.
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <thread>

#include <httplib.h>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"

namespace myelin::bench {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

double ms_between(steady::time_point a, steady::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

pid_t app_host_pid(pid_t boot, const std::string& app) {
  for (auto c : children_of(boot)) {
    if (cmdline_of(c).find("--app " + app + " ") != std::string::npos) {
      return c;
    }
  }
  return -1;
}

int boot_scenario(const std::vector<std::string>&) {
  std::vector<double> core, tree, apps, boot_rss, host_rss;
  for (int run = 0; run < 10; ++run) {
    device dev;
    // The core's services are all up; then the whole tree (the app
    // supervisor has started the app hosts); then every app answers.
    auto core_ready = dev.wait_for("core ready after", 20s);
    auto ready = dev.wait_for("ready in", 20s);
    auto all = dev.wait_for("apps ready in", 20s);
    if (!core_ready || !ready || !all) {
      std::cerr << "boot: myelin-boot did not get ready\n";
      return 1;
    }
    core.push_back(ms_between(dev.started(), *core_ready));
    tree.push_back(ms_between(dev.started(), *ready));
    apps.push_back(ms_between(dev.started(), *all));
    // Let the first requests and timers settle before reading memory.
    std::this_thread::sleep_for(300ms);
    boot_rss.push_back(static_cast<double>(rss_kb(dev.pid())));
    for (auto c : children_of(dev.pid())) {
      host_rss.push_back(static_cast<double>(rss_kb(c)));
    }
    dev.stop();
  }
  result("boot_core_ready_ms", median(core), "ms");
  result("boot_tree_ready_ms", median(tree), "ms");
  result("boot_apps_ready_ms", median(apps), "ms");
  result("boot_rss_kb", median(boot_rss), "kB");
  result("apphost_rss_kb", median(host_rss), "kB");
  return 0;
}

int isolation_scenario(const std::vector<std::string>& args) {
  // Many crashes in a row: lift the fault app's restart intensity.
  std::vector<std::string> extra{"--set", "apps.fault.intensity=1000", "--set",
                                 "apps.fault.period_ms=1000"};
  // "unconfined": the app hosts without their sandbox (decision 0079), the
  // floor for what confining them costs a restart.
  bool unconfined = !args.empty() && args[0] == "unconfined";
  if (unconfined) {
    extra.insert(extra.end(), {"--set", "apphost.sandbox=false"});
  }
  device dev(extra);
  if (!dev.wait_for("apps ready in", 20s)) {
    std::cerr << "isolation: apps did not get ready\n";
    return 1;
  }
  std::vector<double> samples;
  for (int trial = 0; trial < 30; ++trial) {
    auto pid = app_host_pid(dev.pid(), "fault");
    if (pid <= 0) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    auto t0 = steady::now();
    kill(pid, SIGSEGV);
    while (true) {
      auto [status, body] = post(dev.port(), "/v1/apps/fault/call", R"({"command":"ping"})");
      if (status == 200 && app_host_pid(dev.pid(), "fault") != pid) {
        break;
      }
      if (steady::now() - t0 > 10s) {
        std::cerr << "isolation: the app did not come back (last answer " << status << " " << body
                  << ", port " << dev.port() << ")\n"
                  << dev.rest(100ms);
        httplib::Client cli("127.0.0.1", dev.port());
        if (auto res = cli.Get("/v1/status")) {
          std::cerr << res->body << "\n";
        }
        std::cerr << "host pid now " << app_host_pid(dev.pid(), "fault") << " killed " << pid
                  << "\n";
        return 1;
      }
      std::this_thread::sleep_for(200us);
    }
    samples.push_back(ms_between(t0, steady::now()));
    std::this_thread::sleep_for(50ms);
  }
  std::vector<double> sorted = samples;
  auto prefix = std::string{unconfined ? "apphost_recover_unconfined" : "apphost_recover"};
  result(prefix + "_p50_ms", percentile(sorted, 50), "ms");
  result(prefix + "_p99_ms", percentile(sorted, 99), "ms");
  return 0;
}

double socketpair_rtt_p50_us(int n) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
    return 0;
  }
  std::thread echo([fd = sv[1], n] {
    char c;
    for (int i = 0; i < n; ++i) {
      if (read(fd, &c, 1) != 1 || write(fd, &c, 1) != 1) {
        return;
      }
    }
  });
  std::vector<double> samples;
  char c = 'x';
  for (int i = 0; i < n; ++i) {
    auto t0 = steady::now();
    if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) {
      break;
    }
    samples.push_back(std::chrono::duration<double, std::micro>(steady::now() - t0).count());
  }
  echo.join();
  close(sv[0]);
  close(sv[1]);
  return percentile(samples, 50);
}

int ipc_scenario(const std::vector<std::string>&) {
  device dev;
  if (!dev.wait_for("apps ready in", 20s)) {
    std::cerr << "ipc: apps did not get ready\n";
    return 1;
  }
  // Warm up, then measure in the app: ticker's `rtt N` times N kv requests.
  post(dev.port(), "/v1/apps/ticker/call", R"({"command":"rtt","args":["500"]})");
  auto [status, body] =
      post(dev.port(), "/v1/apps/ticker/call", R"({"command":"rtt","args":["5000"]})");
  if (status != 200) {
    std::cerr << "ipc: rtt command failed: " << body << "\n";
    return 1;
  }
  // body: {"reply":"<p50> <p99>"}
  auto start = body.find(":\"") + 2;
  std::istringstream in(body.substr(start));
  double p50 = 0;
  double p99 = 0;
  in >> p50 >> p99;
  auto floor = socketpair_rtt_p50_us(20000);
  result("service_rtt_p50_us", p50, "us");
  result("service_rtt_p99_us", p99, "us");
  result("socketpair_rtt_p50_us", floor, "us");
  result("service_rtt_floor_ratio", floor > 0 ? p50 / floor : 0, "ratio");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("boot",
                      "myelin-boot start to core ready and apps ready; RSS of boot and app hosts",
                      boot_scenario);
MYELIN_BENCH_SCENARIO("isolation",
                      "segfault of an app host until the app answers again (arg: unconfined: "
                      "without the sandbox, the floor)",
                      isolation_scenario);
MYELIN_BENCH_SCENARIO("ipc",
                      "app -> kv service round trip over the app-host link vs a raw socketpair",
                      ipc_scenario);

}  // namespace myelin::bench
