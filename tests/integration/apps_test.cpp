// End to end: applications in their own app hosts. Every fault of the fault
// app leaves the core answering a continuous probe without a single failure,
// and the app comes back per its policy; a crash loop ends `failed`; modules
// built for another ABI are refused.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::call_app;
using myelin::test::exit_code_of;
using myelin::test::run_myelin;

namespace {

/// Fast heartbeats, so that a hung app host is found in well under a second.
std::vector<std::string> fast_heartbeat() {
  return {"--set", "apphost.heartbeat_ms=100", "--set", "apphost.heartbeat_timeout_ms=600"};
}

/// The app's row of GET /v1/apps.
nlohmann::json app_row(int port, const std::string& app) {
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Get("/v1/apps");
  if (!res || res->status != 200) {
    return {};
  }
  for (const auto& row : nlohmann::json::parse(res->body)) {
    if (row["name"] == app) {
      return row;
    }
  }
  return {};
}

/// Waits until `pred` holds (checked every 10 ms) or `limit` passes.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds limit = 15s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

/// Asks the core (kv service through the control channel) continuously.
class core_probe {
 public:
  explicit core_probe(int port) : port_(port), thread_([this] { loop(); }) {}
  ~core_probe() { stop(); }

  void stop() {
    running_ = false;
    if (thread_.joinable()) {
      thread_.join();
    }
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }

 private:
  void loop() {
    httplib::Client cli("127.0.0.1", port_);
    cli.set_read_timeout(2s);
    while (running_) {
      auto res = cli.Get("/v1/kv/nerves_fw_active");
      if (res && res->status == 200 && res->body.find("\"a\"") != std::string::npos) {
        ++ok_;
      } else {
        ++failed_;
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  int port_;
  std::atomic<bool> running_{true};
  std::atomic<int> ok_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

/// Injects `fault` into the fault app and checks that the core never missed
/// a beat and that the app answers again; returns the app's row afterwards.
nlohmann::json survive(const std::string& fault, bool host_dies,
                       std::vector<std::string> args = {}) {
  // Fast heartbeats only where they are what detects the fault: otherwise a
  // loaded machine could have the app declared hung first, a different failure.
  booted_device dev(fault == "hang" ? fast_heartbeat() : std::vector<std::string>{});
  EXPECT_TRUE(dev.apps_ready()) << dev.proc->output();
  core_probe probe(dev.port);
  EXPECT_TRUE(call_app(dev.port, "fault", fault, args)) << fault;
  if (host_dies) {
    // The host goes down (at once, or once its heartbeats stop)...
    EXPECT_TRUE(eventually([&] { return app_row(dev.port, "fault")["restarts"] == 1; }))
        << fault << ": the host did not go down; output:\n"
        << dev.proc->output();
  } else {
    std::this_thread::sleep_for(100ms);
  }
  // ... and the app answers again.
  EXPECT_TRUE(eventually([&] {
    return app_row(dev.port, "fault")["state"] == "running" &&
           call_app(dev.port, "fault", "ping") == "pong";
  })) << fault
      << ": the app did not come back; output:\n"
      << dev.proc->output();
  // The other apps never noticed.
  EXPECT_EQ(call_app(dev.port, "hello", "hello"), "Hello from myelin, world!");
  probe.stop();
  EXPECT_GT(probe.ok(), 0);
  EXPECT_EQ(probe.failed(), 0) << fault << ": the core missed requests";
  return app_row(dev.port, "fault");
}

/// Why cgroup v2 memory limits cannot be used by a child of this process, or
/// empty if they can (cgroup2 mounted, the memory controller available to our
/// cgroup); the same checks as bootloader/src/apps/memory_cgroup.cpp makes first.
std::string cgroup_unavailable() {
  std::ifstream mounts("/proc/self/mountinfo");
  std::string mount;
  for (std::string line; std::getline(mounts, line);) {
    auto dash = line.find(" - cgroup2 ");
    if (dash != std::string::npos) {
      std::istringstream head(line.substr(0, dash));
      std::string id, parent, dev, root;
      head >> id >> parent >> dev >> root >> mount;
      break;
    }
  }
  if (mount.empty()) {
    return "no cgroup2 hierarchy is mounted";
  }
  std::ifstream groups("/proc/self/cgroup");
  std::string own;
  for (std::string line; std::getline(groups, line);) {
    if (line.rfind("0::", 0) == 0) {
      own = mount + (line.substr(3) == "/" ? "" : line.substr(3));
    }
  }
  std::ifstream controllers(own + "/cgroup.controllers");
  std::string all((std::istreambuf_iterator<char>(controllers)), std::istreambuf_iterator<char>());
  if (all.find("memory") == std::string::npos) {
    return "the memory controller is not available in the cgroup2 hierarchy at " + own +
           " (controllers: '" + all + "'; on a hybrid v1/v2 system it is bound to v1)";
  }
  return "";
}

}  // namespace

// An exception in an app actor is handled by the app's own supervisor: the
// host keeps running.
TEST(fault, throw_restarts_actor_inside_app) {
  auto row = survive("throw", false);
  EXPECT_EQ(row["state"], "running");
  EXPECT_EQ(row["restarts"], 0);
}

// abort() kills the app host; the app supervisor restarts it.
TEST(fault, abort_restarts_app_host) {
  auto row = survive("abort", true);
  EXPECT_EQ(row["state"], "running");
  EXPECT_EQ(row["restarts"], 1);
  EXPECT_NE(row["last_exit"].get<std::string>().find("SIGABRT"), std::string::npos) << row;
}

// A segfault kills only the app host.
TEST(fault, segfault_restarts_app_host) {
  auto row = survive("segfault", true);
  EXPECT_EQ(row["restarts"], 1);
  EXPECT_NE(row["last_exit"].get<std::string>().find("SIGSEGV"), std::string::npos) << row;
}

// A host whose scheduler hangs misses its heartbeats and is killed.
TEST(fault, hang_detected_by_heartbeat) {
  auto row = survive("hang", true);
  EXPECT_EQ(row["restarts"], 1);
  EXPECT_NE(row["last_exit"].get<std::string>().find("no answer"), std::string::npos) << row;
}

// Memory without bound hits the host's limit; the host dies, not the device.
TEST(fault, memory_bomb_contained) {
#ifdef MYELIN_SANITIZE_BUILD
  GTEST_SKIP() << "sanitizer build: app memory limits (RLIMIT_AS) cannot be applied under ASan";
#endif
  auto row = survive("leak", true);
  EXPECT_EQ(row["restarts"], 1);
  EXPECT_NE(row["last_exit"].get<std::string>().find("signal"), std::string::npos) << row;
}

// Without a usable cgroup v2 memory controller, the limit is RLIMIT_AS, and
// the status says so; an app without a limit says "none".
TEST(fault, memory_limit_falls_back_to_rlimit) {
  if (auto why = cgroup_unavailable(); why.empty()) {
    GTEST_SKIP() << "cgroup v2 memory limits are available here: see memory_bomb_in_cgroup";
  }
  booted_device dev({"--set", "apps.hello.memory_limit_mb=0"});
  ASSERT_TRUE(dev.apps_ready());
  EXPECT_EQ(app_row(dev.port, "fault")["memory_limit"], "256 MiB (RLIMIT_AS)");
  EXPECT_EQ(app_row(dev.port, "hello")["memory_limit"], "none");
}

// With cgroup v2, each app host runs in a cgroup of its own with memory.max:
// a memory bomb is killed by the kernel, the status says "out of memory", and
// the dead host's cgroup is removed.
TEST(fault, memory_bomb_in_cgroup) {
  if (auto why = cgroup_unavailable(); !why.empty()) {
    GTEST_SKIP() << "cgroup v2 memory limits cannot be used here: " << why;
  }
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready());
  auto limit = app_row(dev.port, "fault")["memory_limit"].get<std::string>();
  auto open = limit.find("(cgroup ");
  ASSERT_NE(open, std::string::npos) << limit;
  auto dir = limit.substr(open + 8, limit.size() - open - 9);
  EXPECT_EQ(myelin::test::read_file(dir + "/memory.max"), std::to_string(256u << 20) + "\n");
  EXPECT_TRUE(call_app(dev.port, "fault", "leak"));
  EXPECT_TRUE(eventually([&] { return app_row(dev.port, "fault")["restarts"] == 1; }));
  auto row = app_row(dev.port, "fault");
  EXPECT_NE(row["last_exit"].get<std::string>().find("out of memory"), std::string::npos) << row;
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists(dir); })) << dir;
}

// exit() with a code: a permanent app is restarted.
TEST(fault, exit_restarts_permanent_app) {
  auto row = survive("exit", true, {"3"});
  EXPECT_EQ(row["restarts"], 1);
  EXPECT_NE(row["last_exit"].get<std::string>().find("exited with code 3"), std::string::npos)
      << row;
}

// A crash loop exceeds the app's intensity: the app is failed, the rest runs.
// The core says it is ready before the apps start; each app host is spawned
// in a process group of its own, and dies with myelin-boot even when that is
// killed outright (the parent-death signal set in the spawned child, and the
// link closing).
TEST(apps, app_hosts_spawned_apart_and_die_with_boot) {
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  auto out = dev.proc->output();
  auto core = out.find("core ready after ");
  ASSERT_NE(core, std::string::npos) << out;
  EXPECT_LT(core, out.find("] ready in ")) << out;
  EXPECT_NE(out.find("log, time, kv, firmware, uevent, watchdog, net, overlays, console", core),
            std::string::npos)
      << out;
  std::vector<pid_t> hosts;
  for (auto pid : myelin::test::children_of(dev.proc->pid())) {
    auto st = myelin::test::stat_of(pid);
    if (st && st->comm == "myelin-apphost") {
      hosts.push_back(pid);
      EXPECT_EQ(::getpgid(pid), pid) << "app host " << pid << " shares a process group";
    }
  }
  ASSERT_EQ(hosts.size(), 3u) << out;
  dev.proc->signal(SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto alive = [&hosts] {
    int n = 0;
    for (auto pid : hosts) {
      auto st = myelin::test::stat_of(pid);
      n += st && st->state != 'Z' ? 1 : 0;
    }
    return n;
  };
  while (alive() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(alive(), 0) << "app hosts outlived a kill -9 of myelin-boot";
}

TEST(apps, crash_loop_ends_failed) {
  booted_device dev({"--set", "apps.fault.intensity=1"});
  ASSERT_TRUE(dev.apps_ready());
  core_probe probe(dev.port);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(eventually([&] { return call_app(dev.port, "fault", "ping") == "pong"; }));
    ASSERT_TRUE(call_app(dev.port, "fault", "segfault"));
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(eventually([&] { return app_row(dev.port, "fault")["state"] == "failed"; }))
      << dev.proc->output();
  auto reply = run_myelin({"call", "--device", dev.address(), "fault", "ping"});
  EXPECT_EQ(reply.exit_code, 1);
  EXPECT_NE(reply.output.find("app fault is failed"), std::string::npos) << reply.output;
  EXPECT_EQ(call_app(dev.port, "hello", "hello", {"still"}), "Hello from myelin, still!");
  EXPECT_EQ(app_row(dev.port, "ticker")["state"], "running");
  probe.stop();
  EXPECT_EQ(probe.failed(), 0);
  // It can be started again by hand.
  ASSERT_EQ(run_myelin({"app", "start", "--device", dev.address(), "fault"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return call_app(dev.port, "fault", "ping") == "pong"; }));
}

// An app host binary that cannot be run is named with the reason, not
// reported as "exited with code 127"; the core runs on.
TEST(apps, unrunnable_app_host_named) {
  booted_device dev({"--set", "apphost.path=/nonexistent/myelin-apphost"});
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  auto row = app_row(dev.port, "hello");
  EXPECT_EQ(row["state"], "failed") << row;
  EXPECT_NE(row["last_exit"].get<std::string>().find(
                "cannot run the app host /nonexistent/myelin-apphost: No such file or directory"),
            std::string::npos)
      << row;
  httplib::Client cli("127.0.0.1", dev.port);
  auto res = cli.Get("/v1/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  // No app host was left behind, not even a zombie.
  for (auto pid : myelin::test::children_of(dev.proc->pid())) {
    ADD_FAILURE() << "unexpected child " << pid;
  }
}

// A failed app with on_failure = reboot reboots the device (host mode: stops).
// Default heartbeats: the segfault is seen when the process dies, and with a
// 600 ms heartbeat timeout a loaded machine (the sanitizer build, the whole
// suite in parallel) can have the fault app declared hung before the call —
// a different failure, and the device reboots before the test gets to it.
TEST(apps, failure_policy_reboot) {
  booted_device dev({"--set", "apps.fault.intensity=0", "--set", "apps.fault.on_failure=reboot"});
  ASSERT_TRUE(dev.apps_ready());
  ASSERT_TRUE(call_app(dev.port, "fault", "segfault"));
  auto status = dev.proc->wait(20s);
  ASSERT_TRUE(status) << dev.proc->output();
  EXPECT_EQ(exit_code_of(*status), 0) << dev.proc->output();
  EXPECT_NE(
      dev.proc->output().find("app fault failed (killed by signal 11 (SIGSEGV)); policy: reboot"),
      std::string::npos)
      << dev.proc->output();
  EXPECT_NE(dev.proc->output().find("power: stop apps"), std::string::npos);
}

// A module built for another SDK ABI, and a missing module, are refused with
// the reason; the app ends failed and nothing else is disturbed.
TEST(apps, bad_modules_refused) {
  std::string bad = std::string{MYELIN_TEST_APPS_DIR} + "/badabi/libbadabi.so";
  booted_device dev({"--set", "apps.badabi.module=" + bad, "--set",
                     "apps.ghost.module=/nonexistent/libghost.so"});
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  EXPECT_TRUE(eventually([&] { return app_row(dev.port, "badabi")["state"] == "failed"; }));
  auto badabi = app_row(dev.port, "badabi");
  EXPECT_NE(badabi["last_exit"].get<std::string>().find("was built for SDK ABI 999"),
            std::string::npos)
      << badabi;
  EXPECT_TRUE(eventually([&] { return app_row(dev.port, "ghost")["state"] == "failed"; }));
  EXPECT_NE(app_row(dev.port, "ghost")["last_exit"].get<std::string>().find("not found"),
            std::string::npos)
      << app_row(dev.port, "ghost");
  EXPECT_EQ(call_app(dev.port, "hello", "hello"), "Hello from myelin, world!");
}

// Commands: replies, unknown commands, unknown apps, stopped apps; stop,
// start and restart through the CLI.
TEST(apps, commands_and_lifecycle) {
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready());
  auto hello = run_myelin({"call", "--device", dev.address(), "hello", "hello", "Ada"});
  EXPECT_EQ(hello.exit_code, 0);
  EXPECT_EQ(hello.output, "Hello from myelin, Ada!\n");
  auto unknown = run_myelin({"call", "--device", dev.address(), "hello", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_EQ(unknown.output, "myelin: unknown command 'nope' (known: hello)\n");
  auto noapp = run_myelin({"call", "--device", dev.address(), "nosuch", "x"});
  EXPECT_EQ(noapp.exit_code, 1);
  EXPECT_EQ(noapp.output, "myelin: no app 'nosuch'\n");
  ASSERT_EQ(run_myelin({"app", "stop", "--device", dev.address(), "hello"}).exit_code, 0);
  EXPECT_EQ(app_row(dev.port, "hello")["state"], "stopped");
  auto stopped = run_myelin({"call", "--device", dev.address(), "hello", "hello"});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.output.find("app hello is stopped"), std::string::npos) << stopped.output;
  ASSERT_EQ(run_myelin({"app", "start", "--device", dev.address(), "hello"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return call_app(dev.port, "hello", "hello").has_value(); }));
  ASSERT_EQ(run_myelin({"app", "restart", "--device", dev.address(), "hello"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return call_app(dev.port, "hello", "hello").has_value(); }));
  EXPECT_EQ(run_myelin({"app", "stop", "--device", dev.address(), "nosuch"}).exit_code, 1);
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("  hello  running"), std::string::npos) << status.output;
}

// An app reaches the core services with ordinary actor messages: the ticker
// reads the KV store through its host's link.
TEST(apps, app_reaches_kv_service) {
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready());
  ASSERT_EQ(
      run_myelin({"kv", "put", "--device", dev.address(), "app.ticker.color=green"}).exit_code, 0);
  EXPECT_EQ(call_app(dev.port, "ticker", "kv", {"app.ticker.color"}), "green");
  auto missing =
      run_myelin({"call", "--device", dev.address(), "ticker", "kv", "app.ticker.no.such"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no key 'app.ticker.no.such'"), std::string::npos)
      << missing.output;
}

// Issue 18: an app reaches only the keys it was granted. By default its own
// app.<name>.* (read, write) and the public Nerves keys (read). The
// bootloader's variables are never writable — an app could switch the boot
// slot or give the next boot a root shell — whatever the device grants; the
// environment is checked with fw_printenv.
TEST(apps, apps_reach_only_the_keys_they_are_granted) {
  booted_device dev({"--set", "apps.ticker.kv_write=shared.", "--set", "apps.hello.enabled=false"});
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  auto env = [&] {
    return myelin::test::run("fw_printenv -c " + dev.fw_env_config() + " 2>&1").output;
  };
  auto before = env();
  ASSERT_NE(before.find("nerves_fw_active="), std::string::npos) << before;
  auto kv = [&](std::vector<std::string> args) {
    args.insert(args.begin(),
                {"call", "--device", dev.address(), "ticker", args.size() == 2 ? "put" : "kv"});
    return run_myelin(args);
  };
  for (const auto& [key, value] :
       std::vector<std::pair<std::string, std::string>>{{"nerves_fw_active", "b"},
                                                        {"bootargs", "init=/bin/sh"},
                                                        {"upgrade_available", "0"},
                                                        {"a.nerves_fw_validated", "1"},
                                                        {"bootcmd", "run shell"},
                                                        {"shared.bootargs", "x"}}) {
    auto r = kv({key, value});
    if (key == "shared.bootargs") {
      EXPECT_EQ(r.exit_code, 0) << r.output;  // granted: a prefix, not the variable
      continue;
    }
    EXPECT_EQ(r.exit_code, 1) << key << ": " << r.output;
    EXPECT_NE(r.output.find("may not write '" + key + "'"), std::string::npos) << r.output;
  }
  // Another app's keys and keys outside its namespace: refused.
  auto other = kv({"app.hello.greeting", "pwned"});
  EXPECT_NE(other.output.find("may not write 'app.hello.greeting'"), std::string::npos)
      << other.output;
  auto unlisted = kv({"color"});
  EXPECT_NE(unlisted.output.find("may not read 'color'"), std::string::npos) << unlisted.output;
  // What it may: its own, the granted prefix, the public Nerves keys.
  EXPECT_EQ(call_app(dev.port, "ticker", "put", {"app.ticker.mine", "1"}), "ok");
  EXPECT_EQ(call_app(dev.port, "ticker", "kv", {"nerves_fw_active"}), "a");
  auto after = env();
  for (const char* k : {"nerves_fw_active=a", "bootargs=init", "upgrade_available=0",
                        "bootcmd=run shell", "app.hello.greeting"}) {
    bool was = before.find(k) != std::string::npos;
    EXPECT_EQ(after.find(k) != std::string::npos, was) << k << "\n" << after;
  }
  EXPECT_NE(after.find("app.ticker.mine=1"), std::string::npos) << after;
  EXPECT_NE(after.find("shared.bootargs=x"), std::string::npos) << after;
  // The refusals are logged, and the grants are in the status.
  const std::string logged = "app ticker: refused: app ticker may not write 'bootargs'";
  EXPECT_TRUE(dev.proc->output().find(logged) != std::string::npos ||
              dev.proc->wait_for_line(logged, 5s).has_value())
      << dev.proc->output();
  EXPECT_EQ(app_row(dev.port, "ticker")["grants"],
            "kv read: app.ticker., nerves_*, a.nerves_*, b.nerves_*; kv write: app.ticker., "
            "shared.; firmware: status");
}

// A write of an app not yet answered is seen by its next read: reads answered
// from the kv snapshot wait for the app's writes in flight (decision 0007).
TEST(apps, app_reads_its_own_writes_in_order) {
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready());
  for (int i = 0; i < 20; ++i) {
    auto value = "v" + std::to_string(i);
    EXPECT_EQ(call_app(dev.port, "ticker", "kv", {"app.ticker.order", value}), value);
  }
  EXPECT_EQ(run_myelin({"kv", "get", "--device", dev.address(), "app.ticker.order"}).output,
            "v19\n");
}

// isolation = "inproc": the module runs inside myelin-boot (no app host
// process), answers commands, reaches the kv service, restarts on request and
// has no memory limit of its own.
TEST(apps, inproc_app_runs_inside_myelin_boot) {
  booted_device dev(
      {"--set", "apps.hello.isolation=inproc", "--set", "apps.ticker.isolation=inproc"});
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  EXPECT_EQ(call_app(dev.port, "hello", "hello", {"Ada"}), "Hello from myelin, Ada!");
  ASSERT_EQ(run_myelin({"kv", "put", "--device", dev.address(), "color=green"}).exit_code, 0);
  EXPECT_EQ(call_app(dev.port, "ticker", "kv", {"color"}), "green");
  auto row = app_row(dev.port, "hello");
  EXPECT_EQ(row["isolation"], "inproc");
  EXPECT_EQ(row["memory_limit"], "none (inproc)");
  auto unknown = run_myelin({"call", "--device", dev.address(), "hello", "nope"});
  EXPECT_EQ(unknown.output, "myelin: unknown command 'nope' (known: hello)\n");
  // Only the process-isolated fault app has an app host (children of any of
  // myelin-boot's threads).
  std::string pids;
  auto tasks = "/proc/" + std::to_string(dev.proc->pid()) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream children(task.path() / "children");
    pids.append(std::istreambuf_iterator<char>(children), std::istreambuf_iterator<char>());
  }
  std::istringstream in(pids);
  int hosts = 0;
  for (std::string pid; in >> pid;) {
    std::ifstream cmd("/proc/" + pid + "/cmdline");
    std::string line((std::istreambuf_iterator<char>(cmd)), std::istreambuf_iterator<char>());
    hosts += line.find("myelin-apphost") != std::string::npos ? 1 : 0;
    EXPECT_EQ(line.find("hello"), std::string::npos) << line;
  }
  EXPECT_EQ(hosts, 1) << pids;
  ASSERT_EQ(run_myelin({"app", "restart", "--device", dev.address(), "hello"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return call_app(dev.port, "hello", "hello").has_value(); }));
  EXPECT_EQ(app_row(dev.port, "hello")["state"], "running");
}

// Malformed call requests are refused.
TEST(apps, hostile_call_requests) {
  booted_device dev;
  ASSERT_TRUE(dev.apps_ready());
  httplib::Client cli("127.0.0.1", dev.port);
  for (const auto& body :
       {std::string{"{}"}, std::string{R"({"command": 1})"},
        std::string{R"({"command": "hello", "args": "x"})"},
        std::string{R"({"command": "hello", "args": [1]})"}, std::string{"nope"}}) {
    auto res = cli.Post("/v1/apps/hello/call", body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << body;
  }
  EXPECT_EQ(cli.Post("/v1/apps/nosuch/call", R"({"command":"x"})", "application/json")->status,
            404);
  EXPECT_EQ(cli.Post("/v1/apps/hello/explode", "{}", "application/json")->status, 404);
}
