// End-to-end tests of the walking skeleton: the real myelin-boot binary boots,
// serves its control channel, answers `myelin status`, and stops on signals.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::child_process;

using myelin::test::bin;
using myelin::test::booted_device;
using myelin::test::exit_code_of;
using myelin::test::host_config;

// myelin-boot reaches "ready", naming the core services, the apps and where
// its control channel listens.
TEST(boot, ready_line_names_services_and_control) {
  booted_device dev;
  ASSERT_FALSE(dev.ready_line.empty());
  // log first, then time and kv; console last; the other core services in between.
  EXPECT_NE(dev.ready_line.find("core [log, time, kv, firmware, "), std::string::npos)
      << dev.ready_line;
  EXPECT_NE(dev.ready_line.find("log, time, kv, firmware, uevent, watchdog, net, "),
            std::string::npos)
      << dev.ready_line;
  EXPECT_NE(dev.ready_line.find(", console, mdns], apps"), std::string::npos) << dev.ready_line;
  EXPECT_NE(dev.ready_line.find("apps [fault, hello, ticker]"), std::string::npos)
      << dev.ready_line;
  EXPECT_GT(dev.port, 0) << dev.ready_line;
  EXPECT_NE(dev.ready_line.find(dev.state), std::string::npos) << dev.ready_line;
}

/// The names of the threads of process `pid`.
std::multiset<std::string> thread_names(pid_t pid) {
  std::multiset<std::string> out;
  std::error_code ec;
  for (const auto& t :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(t.path() / "comm");
    std::string name;
    if (std::getline(in, name)) {
      out.insert(name);
    }
  }
  return out;
}

// Service threads carry their service's name (ps -L, top -H), in myelin-boot
// and in the app hosts.
TEST(boot, service_threads_are_named) {
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  httplib::Client cli("127.0.0.1", dev.port);
  ASSERT_TRUE(cli.Get("/v1/status"));
  auto names = thread_names(dev.proc->pid());
  std::string all;
  for (const auto& n : names) {
    all += n + " ";
  }
  for (const char* want : {"log.syslog", "uevent.read", "net.watch", "console.http", "out.hello"}) {
    EXPECT_EQ(names.count(want) > 0, true) << want << " missing in: " << all;
  }
  int hosts = 0;
  for (auto pid : myelin::test::children_of(dev.proc->pid())) {
    auto host = thread_names(pid);
    if (host.count("myelin-apphost") == 0) {
      continue;
    }
    ++hosts;
    EXPECT_EQ(host.count("link.read"), 1u);
    EXPECT_EQ(host.count("app.commands"), 1u);
  }
  EXPECT_EQ(hosts, 3);
}

// The control channel answers /v1/status with the supervision tree.
TEST(boot, status_shows_tree) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  httplib::Client cli("127.0.0.1", dev.port);
  auto res = cli.Get("/v1/status");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto doc = nlohmann::json::parse(res->body);
  EXPECT_EQ(doc["device"], "myelin-host");
  EXPECT_EQ(doc["pid"], dev.proc->pid());
  // core, daemons (none configured here), apps.
  ASSERT_EQ(doc["tree"].size(), 3u) << doc.dump();
  EXPECT_EQ(doc["tree"][0]["id"], "core");
  EXPECT_EQ(doc["tree"][0]["status"], "running");
  EXPECT_EQ(doc["tree"][0]["type"], "supervisor");
  EXPECT_EQ(doc["tree"][0]["children"][0]["id"], "log");
  EXPECT_EQ(doc["tree"][0]["children"][1]["id"], "time");
  EXPECT_EQ(doc["tree"][0]["children"][2]["id"], "kv");
  EXPECT_EQ(doc["tree"][0]["children"].back()["id"], "mdns");
  EXPECT_EQ(doc["tree"][1]["id"], "daemons");
  EXPECT_EQ(doc["tree"][2]["id"], "apps");
  ASSERT_EQ(doc["tree"][2]["children"].size(), 3u) << doc.dump();
  EXPECT_EQ(doc["tree"][2]["children"][1]["id"], "hello");
  EXPECT_EQ(doc["tree"][2]["children"][1]["children"][0]["id"], "host");
  // The boot's readiness, in order (apps ready may still be to come).
  ASSERT_TRUE(doc["boot"]["core_ready_ms"].is_number()) << doc.dump();
  ASSERT_TRUE(doc["boot"]["ready_ms"].is_number()) << doc.dump();
  EXPECT_GT(doc["boot"]["core_ready_ms"].get<double>(), 0);
  EXPECT_LE(doc["boot"]["core_ready_ms"].get<double>(), doc["boot"]["ready_ms"].get<double>());
  auto missing = cli.Get("/v1/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("no such endpoint"), std::string::npos);
}

// SIGTERM stops the apps first (last started first), then the core services
// in reverse start order, and exits 0.
TEST(boot, sigterm_stops_apps_then_core_in_reverse_order) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  dev.proc->signal(SIGTERM);
  auto status = dev.proc->wait(20s);
  ASSERT_TRUE(status) << "myelin-boot did not stop; output:\n" << dev.proc->output();
  EXPECT_EQ(exit_code_of(*status), 0) << dev.proc->output();
  const auto& out = dev.proc->output();
  std::vector<std::string> order{"app ticker stopped",       "app hello stopped",
                                 "app fault stopped",        "service apps stopped",
                                 "service console stopped",  "service overlays stopped",
                                 "service net stopped",      "service uevent stopped",
                                 "service firmware stopped", "service kv stopped"};
  // Each "stopped" line is logged on the stopping actor's own thread by a
  // cleanup function that CAF runs after the supervisor's down message has
  // gone out, so two neighbours' lines may swap; the supervisor's order itself
  // is tested deterministically in tests/supervisors. Detached services
  // (firmware, overlays) log from their own threads, later still. Here:
  // every line comes after the one three steps before it.
  std::vector<size_t> at;
  for (const auto& step : order) {
    at.push_back(out.find(step));
    ASSERT_NE(at.back(), std::string::npos) << step << " missing in:\n" << out;
  }
  for (size_t i = 3; i < order.size(); ++i) {
    EXPECT_GT(at[i], at[i - 3]) << order[i] << " out of order in:\n" << out;
  }
  // "service kv stopped" is logged on kv's thread after its down message has
  // gone out, so it may race the main thread's last line: only the order
  // before it is guaranteed.
  auto clean = out.find("stopped cleanly");
  ASSERT_NE(clean, std::string::npos) << out;
  EXPECT_GT(clean, out.find("service firmware stopped")) << out;
}

// Ctrl-C (SIGINT) stops cleanly with exit 0 as well.
TEST(boot, sigint_stops_cleanly_exit_zero) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  dev.proc->signal(SIGINT);
  auto status = dev.proc->wait(20s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0) << dev.proc->output();
}

// A broken config file is reported and the device boots on built-in defaults,
// with the command line's --set overrides still applied on top of them.
// The overrides keep the device off what belongs to the machine running the
// test — /dev/log, the kernel log, /etc/fw_env.config, the internet check —
// which a device's defaults point at (a CI host's are not ours to take).
TEST(boot, broken_config_boots_on_defaults) {
  myelin::test::temp_dir dir;
  myelin::test::write_file(dir / "bad.toml", "[control]\nprot = 1\n");
  auto bad = (dir / "bad.toml").string();
  myelin::test::temp_dir state;
  child_process proc({bin("myelin-boot"), "--config", (dir / "bad.toml").string(), "--set",
                      "control.port=0", "--set", "state.dir=" + state.path().string(), "--set",
                      "log.kmsg=false", "--set", "log.syslog_socket=log.sock", "--set",
                      "kv.backend=file", "--set", "net.internet_hosts="});
  auto ready = proc.wait_for_line("ready in", 20s);
  ASSERT_TRUE(ready) << proc.output();
  EXPECT_NE(proc.output().find("[control] " + bad +
                               ":2: unknown key 'control.prot' (did you "
                               "mean 'control.port'?); that section runs on the last good "
                               "configuration, else the defaults"),
            std::string::npos)
      << proc.output();
  // Defaults: the device name, the core services, no apps.
  EXPECT_NE(ready->find("apps []"), std::string::npos) << *ready;
  EXPECT_NE(ready->find("state " + state.path().string()), std::string::npos) << *ready;
  httplib::Client cli("127.0.0.1", myelin::test::port_of(*ready));
  auto res = cli.Get("/v1/status");
  ASSERT_TRUE(res) << proc.output();
  EXPECT_EQ(nlohmann::json::parse(res->body)["device"], "myelin") << res->body;
  proc.signal(SIGTERM);
  auto status = proc.wait(20s);
  ASSERT_TRUE(status) << "no stop within 20 s after SIGTERM:\n" << proc.output();
  EXPECT_EQ(exit_code_of(*status), 0) << proc.output();
}

// A bad --set override is refused before anything starts (exit 2).
TEST(boot, bad_override_refused) {
  child_process proc({bin("myelin-boot"), "--set", "control.port=http"});
  auto status = proc.wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 2);
  EXPECT_NE(proc.output().find("'control.port' must be an integer"), std::string::npos)
      << proc.output();
}

// --check-config validates without booting: 0 when valid, 2 with the reason.
TEST(boot, check_config) {
  child_process good({bin("myelin-boot"), "--config", host_config(), "--check-config"});
  auto gs = good.wait(10s);
  ASSERT_TRUE(gs);
  EXPECT_EQ(exit_code_of(*gs), 0) << good.output();
  myelin::test::temp_dir dir;
  myelin::test::write_file(dir / "bad.toml", "log.level = \"loud\"\n");
  child_process bad(
      {bin("myelin-boot"), "--config", (dir / "bad.toml").string(), "--check-config"});
  auto bs = bad.wait(10s);
  ASSERT_TRUE(bs);
  EXPECT_EQ(exit_code_of(*bs), 2);
  EXPECT_NE(bad.output().find("'log.level' must be one of"), std::string::npos) << bad.output();
}

// A control port already in use does not stop the core (decision 0074): the
// channel listens on a fallback, and status names the reason.
TEST(boot, port_in_use_falls_back_and_says_so) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  auto port = std::to_string(ntohs(addr.sin_port));
  myelin::test::temp_dir state;
  child_process proc({bin("myelin-boot"), "--config", host_config(), "--set",
                      "control.port=" + port, "--set", "state.dir=" + state.path().string()});
  // Not "ready in": "already in use" holds it too.
  auto ready = proc.wait_for_line(" ms: core [", 20s);
  close(fd);
  ASSERT_TRUE(ready) << proc.output();
  auto used = myelin::test::port_of(*ready);
  EXPECT_NE(std::to_string(used), port);
  httplib::Client cli("127.0.0.1", used);
  auto res = cli.Get("/v1/status");
  ASSERT_TRUE(res) << proc.output();
  auto issues = nlohmann::json::parse(res->body)["config"]["issues"];
  ASSERT_EQ(issues.size(), 1u) << res->body;
  EXPECT_EQ(issues[0]["section"], "control");
  EXPECT_NE(issues[0]["message"].get<std::string>().find("cannot listen on 127.0.0.1:" + port +
                                                         ": Address already in use"),
            std::string::npos)
      << res->body;
  proc.signal(SIGTERM);
  EXPECT_TRUE(proc.wait(20s));
}

// `myelin status` prints the tree of a running device.
TEST(cli, status_of_running_device) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  child_process cli({bin("myelin"), "status", "--device", "127.0.0.1:" + std::to_string(dev.port)});
  auto status = cli.wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 0) << cli.output();
  EXPECT_NE(cli.output().find("device:   myelin-host"), std::string::npos) << cli.output();
  // Tree rows: child, state, restarts, uptime.
  EXPECT_TRUE(std::regex_search(cli.output(), std::regex{R"(\n +console +running +0  \d+ m?s\n)"}))
      << cli.output();
}

// `myelin status` against no device fails with a reason and exit 1.
TEST(cli, status_unreachable_device) {
  child_process cli({bin("myelin"), "status", "--device", "127.0.0.1:1"});
  auto status = cli.wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(exit_code_of(*status), 1);
  EXPECT_NE(cli.output().find("cannot reach the device at 127.0.0.1:1"), std::string::npos)
      << cli.output();
}

// myelin-apphost run by hand explains what it needs; every binary has
// --version; myelin-bench lists its scenarios.
TEST(binaries, usage_and_versions) {
  child_process apphost({bin("myelin-apphost")});
  auto as = apphost.wait(10s);
  ASSERT_TRUE(as);
  EXPECT_NE(exit_code_of(*as), 0);
  EXPECT_NE(apphost.output().find("--app is required"), std::string::npos) << apphost.output();
  for (const char* name : {"myelin-boot", "myelin-apphost", "myelin"}) {
    child_process v({bin(name), "--version"});
    auto vs = v.wait(10s);
    ASSERT_TRUE(vs);
    EXPECT_EQ(exit_code_of(*vs), 0) << name;
    EXPECT_EQ(v.output().rfind(std::string{name} + " ", 0), 0u) << v.output();
  }
  child_process bench({bin("myelin-bench"), "--list"});
  auto bs = bench.wait(10s);
  ASSERT_TRUE(bs);
  EXPECT_EQ(exit_code_of(*bs), 0) << bench.output();
  EXPECT_NE(bench.output().find("supervisor"), std::string::npos) << bench.output();
}
