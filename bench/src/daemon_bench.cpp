// Benchmark of supervised OS programs: a daemon killed with SIGKILL until it
// runs again, with the default restart delay (systemd's RestartSec, 100 ms,
// the anchor) and with none (the floor: what myelin itself adds).
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"

namespace myelin::bench {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

/// The running daemon's pid, from /proc: the child of myelin-boot running `sleep 1000`.
pid_t daemon_pid(pid_t boot) {
  for (auto c : children_of(boot)) {
    if (cmdline_of(c).find("sleep 1000") != std::string::npos) {
      return c;
    }
  }
  return -1;
}

/// Median ms from SIGKILL of the daemon to its new process existing.
double restart_ms(int delay_ms, int runs) {
  device dev{{"--set", "daemons.sleeper.command=/bin/sleep,1000", "--set",
              "daemons.sleeper.intensity=1000", "--set", "daemons.sleeper.period_ms=1000", "--set",
              "daemons.sleeper.restart_delay_ms=" + std::to_string(delay_ms), "--set",
              "daemons.sleeper.restart_delay_max_ms=" + std::to_string(delay_ms), "--set",
              "apps.hello.enabled=false", "--set", "apps.ticker.enabled=false", "--set",
              "apps.fault.enabled=false"}};
  if (!dev.wait_for("ready in", 20s)) {
    std::cerr << "myelin-bench daemon: myelin-boot did not get ready\n";
    return -1;
  }
  std::vector<double> samples;
  for (int i = 0; i < runs; ++i) {
    dev.drain();
    pid_t old = -1;
    auto until = steady::now() + 5s;
    while ((old = daemon_pid(dev.pid())) < 0 && steady::now() < until) {
      std::this_thread::sleep_for(1ms);
    }
    if (old < 0) {
      std::cerr << "myelin-bench daemon: no running daemon (run " << i << ")\n";
      for (auto c : children_of(dev.pid())) {
        std::cerr << "  child " << c << ": " << cmdline_of(c) << "\n";
      }
      std::cerr << dev.rest(1000ms);
      return -1;
    }
    auto t0 = steady::now();
    ::kill(old, SIGKILL);
    pid_t now = -1;
    until = steady::now() + 10s;
    while (((now = daemon_pid(dev.pid())) < 0 || now == old) && steady::now() < until) {
      std::this_thread::sleep_for(std::chrono::microseconds{200});
    }
    if (now < 0 || now == old) {
      std::cerr << "myelin-bench daemon: not restarted within 10 s (run " << i << ")\n"
                << dev.rest(100ms);
      return -1;
    }
    samples.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    // Past the intensity window so that every kill counts as a first failure.
    std::this_thread::sleep_for(1100ms);
  }
  dev.stop();
  return median(samples);
}

int daemon_scenario(const std::vector<std::string>& args) {
  int runs = args.empty() ? 10 : std::stoi(args[0]);
  auto with_delay = restart_ms(100, runs);
  auto floor = restart_ms(0, runs);
  if (with_delay < 0 || floor < 0) {
    return 1;
  }
  result("daemon_restart_ms", with_delay, "ms");
  result("daemon_restart_no_delay_ms", floor, "ms");
  result("systemd_restart_sec_default_ms", 100, "ms");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("daemon",
                      "a supervised program killed (SIGKILL) until it runs again: restart_delay "
                      "100 ms (systemd's RestartSec) and 0 (floor); arg: runs (10)",
                      daemon_scenario);

}  // namespace myelin::bench
