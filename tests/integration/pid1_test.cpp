// myelin-boot as PID 1 of a PID namespace (unshare --pid --fork --mount-proc
// --uts): essential mounts, hostname, reaping orphans, signals → power calls
// recorded by the test power hook, and what happens when the runtime fails.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "device_fixture.hpp"

namespace {

using namespace myelin::test;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

/// The full path of a program on $PATH, or empty.
std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = fs::path{dir} / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return {};
}

/// Why these tests cannot run here, or empty.
std::string missing_pid1_support() {
  if (auto why = missing_root(); !why.empty()) {
    return why;
  }
  for (const char* tool : {"unshare", "nsenter"}) {
    if (find_program(tool).empty()) {
      return std::string{tool} + " (util-linux) is missing";
    }
  }
  return {};
}

#define REQUIRE_PID1_SUPPORT()                                     \
  do {                                                             \
    if (auto why_ = missing_pid1_support(); !why_.empty()) {       \
      GTEST_SKIP() << "needs root, unshare and nsenter: " << why_; \
    }                                                              \
  } while (false)

/// True when the build lives under /tmp or /run, where myelin-boot's own
/// tmpfs mounts (PID 1 mode) would hide it inside its mount namespace.
bool build_under_tmpfs_targets() {
  auto build = fs::absolute(bin_dir()).lexically_normal().string() + "/";
  return build.rfind("/tmp/", 0) == 0 || build.rfind("/run/", 0) == 0;
}

/// A scratch directory outside /tmp and /run: in its mount namespace
/// myelin-boot mounts fresh tmpfs there, which would hide a temp_dir.
class scratch_dir {
 public:
  scratch_dir() {
    auto base = build_under_tmpfs_targets() ? fs::path{"/var/tmp/myelin-pid1-tests"}
                                            : bin_dir().parent_path() / "test-tmp";
    fs::create_directories(base);
    auto pattern = (base / "pid1-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::runtime_error("mkdtemp " + pattern);
    }
    // App hosts run as users of their own (decision 0079).
    ::chmod(pattern.c_str(), 0755);
    path_ = pattern;
  }
  ~scratch_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  fs::path operator/(const std::string& name) const { return path_ / name; }

 private:
  fs::path path_;
};

std::string pid1_hook_name = "power-calls";

/// myelin-boot --pid1 as PID 1 of new PID, mount and UTS namespaces, with its
/// state and the power hook file in a scratch directory.
struct pid1_device {
  scratch_dir dir;
  std::unique_ptr<child_process> proc;  // unshare; myelin-boot is its child
  pid_t boot_pid = -1;                  // myelin-boot as this (outer) namespace sees it
  std::optional<std::string> ready;

  /// `before` runs in a shell inside the namespaces before myelin-boot is
  /// exec'd (still PID 1), e.g. to mount something first.
  explicit pid1_device(std::vector<std::string> extra = {}, const std::string& before = {},
                       const std::string& wait_for = "ready in", bool mount = false) {
    if (!mount) {
      // Only the mount tests mount: elsewhere a fresh /tmp could hide the
      // build (and its binaries) when it lives under /tmp.
      extra.insert(extra.begin(), {"--set", "pid1.mount=false"});
    }
    std::vector<std::string> boot{bin("myelin-boot"),
                                  "--pid1",
                                  "--config",
                                  host_config(),
                                  "--set",
                                  "control.port=0",
                                  "--set",
                                  "state.dir=" + (dir / "state").string(),
                                  "--set",
                                  "apphost.base_dir=" + (bin_dir().parent_path() / "apps").string(),
                                  "--test-power-hook",
                                  hook().string()};
    boot.insert(boot.end(), extra.begin(), extra.end());
    std::vector<std::string> argv{find_program("unshare"), "--pid", "--fork", "--mount-proc",
                                  "--uts"};
    if (before.empty()) {
      argv.insert(argv.end(), boot.begin(), boot.end());
    } else {
      std::string script = before + " && exec";
      for (const auto& a : boot) {
        script += " " + shell_quote(a);
      }
      argv.insert(argv.end(), {"/bin/sh", "-c", script});
    }
    proc = std::make_unique<child_process>(argv);
    ready = proc->wait_for_line(wait_for, 20s);
    if (!ready) {
      ADD_FAILURE() << "no '" << wait_for << "' line; output:\n" << proc->output();
      return;
    }
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         boot_pid < 0 && std::chrono::steady_clock::now() < deadline;
         std::this_thread::sleep_for(10ms)) {
      auto kids = children_of(proc->pid());
      if (!kids.empty()) {
        boot_pid = kids.front();
      }
    }
  }

  /// A failed test must not leave PID 1 of the namespace behind (killing
  /// unshare does not end it).
  ~pid1_device() {
    if (boot_pid > 0 &&
        read_file("/proc/" + std::to_string(boot_pid) + "/cmdline").find("myelin-boot") !=
            std::string::npos) {
      ::kill(boot_pid, SIGKILL);
    }
  }
  pid1_device(const pid1_device&) = delete;
  pid1_device& operator=(const pid1_device&) = delete;

  fs::path hook() const { return dir / pid1_hook_name; }

  /// Runs a shell command inside myelin-boot's PID and mount namespaces.
  command_result in_namespace(const std::string& flags, const std::string& command) const {
    return run(shell_quote(find_program("nsenter")) + " -t " + std::to_string(boot_pid) + " " +
               flags + " /bin/sh -c " + shell_quote(command));
  }

  /// Waits for the namespace (unshare) to end; its exit code, or -1.
  int wait_exit() {
    auto status = proc->wait(30s);
    return status ? exit_code_of(*status) : -1;
  }
};

size_t position(const std::string& text, const std::string& needle) {
  auto at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << "missing '" << needle << "' in:\n" << text;
  return at;
}

bool host_has_mount(const std::string& target) {
  auto info = read_file("/proc/self/mountinfo");
  return info.find(" " + target + " ") != std::string::npos;
}

// -- mounts ------------------------------------------------------------------

// What is missing is mounted, what is there is left alone; every essential
// file system is then mounted in myelin-boot's mount namespace.
/// The mount tests need the build outside /tmp and /run (the mounts under
/// test would hide it) and run without apps.
#define REQUIRE_BUILD_OUTSIDE_TMPFS_TARGETS()                                  \
  do {                                                                         \
    if (build_under_tmpfs_targets()) {                                         \
      GTEST_SKIP() << "the build directory " << bin_dir()                      \
                   << " lies under /tmp or /run, which this test mounts over"; \
    }                                                                          \
  } while (false)

std::vector<std::string> without_apps() {
  return {"--set", "apps.fault.enabled=false", "--set", "apps.hello.enabled=false",
          "--set", "apps.ticker.enabled=false"};
}

TEST(pid1, mounts_missing_file_systems) {
  REQUIRE_PID1_SUPPORT();
  REQUIRE_BUILD_OUTSIDE_TMPFS_TARGETS();
  pid1_device dev(without_apps(), {}, "ready in", true);
  ASSERT_TRUE(dev.ready);
  const auto& out = dev.proc->output();
  EXPECT_NE(out.find("pid1: /proc already mounted"), std::string::npos) << out;
  for (const char* target : {"/run", "/tmp"}) {
    auto expected = host_has_mount(target) ? std::string{"pid1: "} + target + " already mounted"
                                           : std::string{"pid1: mounted tmpfs on "} + target;
    EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
  }
  auto info = read_file("/proc/" + std::to_string(dev.boot_pid) + "/mountinfo");
  for (const char* target : {"/proc", "/sys", "/dev", "/dev/pts", "/run", "/tmp"}) {
    EXPECT_NE(info.find(std::string{" "} + target + " "), std::string::npos)
        << target << " not mounted:\n"
        << info;
  }
  ::kill(dev.boot_pid, SIGTERM);
  EXPECT_EQ(dev.wait_exit(), 0);
}

// With everything mounted already, nothing is mounted again.
TEST(pid1, mounts_idempotent_when_all_mounted) {
  REQUIRE_PID1_SUPPORT();
  REQUIRE_BUILD_OUTSIDE_TMPFS_TARGETS();
  pid1_device dev(without_apps(), "mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp",
                  "ready in", true);
  ASSERT_TRUE(dev.ready);
  const auto& out = dev.proc->output();
  for (const char* target : {"/proc", "/sys", "/dev", "/dev/pts", "/run", "/tmp"}) {
    EXPECT_NE(out.find(std::string{"pid1: "} + target + " already mounted"), std::string::npos)
        << target << "\n"
        << out;
  }
  EXPECT_EQ(out.find("pid1: mounted"), std::string::npos) << out;
  EXPECT_EQ(out.find("pid1: mount "), std::string::npos) << out;
  ::kill(dev.boot_pid, SIGTERM);
  EXPECT_EQ(dev.wait_exit(), 0);
}

// -- hostname ----------------------------------------------------------------

// The default pattern myelin-%s with the serial number of host.toml's kv.
TEST(pid1, hostname_from_serial_number) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev;
  ASSERT_TRUE(dev.ready);
  auto r = dev.in_namespace("-u", "hostname");
  EXPECT_EQ(r.output, "myelin-HOST-0001\n");
  ::kill(dev.boot_pid, SIGTERM);
  EXPECT_EQ(dev.wait_exit(), 0);
}

// A custom pattern; the serial number from a script strategy (a child that
// run_script waits for by pid while every other child is reaped).
TEST(pid1, hostname_custom_pattern_and_script_serial) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev({"--set", "pid1.hostname_pattern=unit-%s-x", "--set",
                   "serial.strategies=script:echo SCRIPT42"});
  ASSERT_TRUE(dev.ready);
  auto r = dev.in_namespace("-u", "hostname");
  EXPECT_EQ(r.output, "unit-SCRIPT42-x\n");
  ::kill(dev.boot_pid, SIGTERM);
  EXPECT_EQ(dev.wait_exit(), 0);
}

// -- reaping -----------------------------------------------------------------

// Orphans re-parented to PID 1 are reaped (no zombies stay), and the app
// hosts, which the app supervisor watches, still get their exit status.
TEST(pid1, reaps_orphans_keeps_watched_statuses) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev;
  ASSERT_TRUE(dev.ready);
  ASSERT_TRUE(dev.proc->wait_for_line("apps ready in", 20s));
  for (int i = 0; i < 5; ++i) {
    // The subshell exits at once: its background sleep is an orphan.
    auto r = dev.in_namespace("-p -m", "(sleep 0.2 &) ; exit 0");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto orphans_left = [&] {
    int left = 0;
    for (auto pid : children_of(dev.boot_pid)) {
      auto st = stat_of(pid);
      if (st && (st->state == 'Z' || st->comm == "sleep")) {
        ++left;
      }
    }
    return left;
  };
  int left = orphans_left();
  for (auto deadline = std::chrono::steady_clock::now() + 15s;
       left > 0 && std::chrono::steady_clock::now() < deadline; left = orphans_left()) {
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(left, 0) << "zombies or orphans left under PID 1";
  // A watched child's status still reaches its owner.
  pid_t hello = -1;
  for (auto pid : children_of(dev.boot_pid)) {
    auto cmdline = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (cmdline.find("libhello.so") != std::string::npos) {
      hello = pid;
    }
  }
  ASSERT_GT(hello, 0);
  ::kill(hello, SIGKILL);
  auto line = dev.proc->wait_for_line("app hello exited", 10s);
  ASSERT_TRUE(line) << dev.proc->output();
  EXPECT_NE(line->find("SIGKILL"), std::string::npos) << *line;
  ::kill(dev.boot_pid, SIGTERM);
  EXPECT_EQ(dev.wait_exit(), 0);
}

// -- signals → power ---------------------------------------------------------

// SIGTERM: apps stop, then the core, sync, then the reboot call (recorded).
TEST(pid1, sigterm_orderly_stop_then_reboot) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev;
  ASSERT_TRUE(dev.ready);
  ASSERT_TRUE(dev.proc->wait_for_line("apps ready in", 20s));
  ::kill(dev.boot_pid, SIGTERM);
  EXPECT_EQ(dev.wait_exit(), 0);
  EXPECT_EQ(read_file(dev.hook()), "reboot\n");
  const auto& out = dev.proc->output();
  auto hello = position(out, "app hello stopped");
  auto apps = position(out, "service apps stopped");
  auto kv = position(out, "service kv stopped");
  auto stop_apps = position(out, "power: stop apps");
  auto stop_core = position(out, "power: stop core");
  auto sync = position(out, "power: sync");
  auto call = position(out, "power: system call reboot");
  EXPECT_LT(hello, apps);
  EXPECT_LT(apps, kv);
  EXPECT_LT(kv, stop_apps);
  EXPECT_LT(stop_apps, stop_core);
  EXPECT_LT(stop_core, sync);
  EXPECT_LT(sync, call);
}

// SIGUSR1 halts.
TEST(pid1, sigusr1_halts) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev;
  ASSERT_TRUE(dev.ready);
  ::kill(dev.boot_pid, SIGUSR1);
  EXPECT_EQ(dev.wait_exit(), 0);
  EXPECT_EQ(read_file(dev.hook()), "halt\n");
  position(dev.proc->output(), "power: stop core");
}

// SIGUSR2 powers off.
TEST(pid1, sigusr2_powers_off) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev;
  ASSERT_TRUE(dev.ready);
  ::kill(dev.boot_pid, SIGUSR2);
  EXPECT_EQ(dev.wait_exit(), 0);
  EXPECT_EQ(read_file(dev.hook()), "poweroff\n");
  position(dev.proc->output(), "power: stop core");
}

// -- failure of the runtime --------------------------------------------------

// A thread of a core service that fails (an exception) is a restart of that
// service, nothing more: PID 1 goes on, no reboot (decision 0075).
TEST(pid1, a_failed_service_thread_only_restarts_its_service) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev({"--set", "testing.faults=uevent.read"});
  ASSERT_TRUE(dev.ready);
  position(dev.proc->output(), "thread uevent.read failed: test fault in uevent.read");
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(dev.proc->wait(10ms)) << dev.proc->output();
  EXPECT_EQ(read_file(dev.hook()), "");
  EXPECT_EQ(dev.proc->output().find("pid1.on_failure"), std::string::npos) << dev.proc->output();
}

// Only when the core supervisor gives up (the same thread failing past
// core.intensity) does PID 1 take the failure path: reboot, the default.
TEST(pid1, core_giving_up_reboots) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev({"--set", "testing.faults=uevent.read*50"}, {}, "pid1.on_failure");
  ASSERT_TRUE(dev.ready);
  EXPECT_EQ(dev.wait_exit(), 1);
  EXPECT_EQ(read_file(dev.hook()), "reboot\n");
  position(dev.proc->output(), "the runtime failed in PID 1 mode; pid1.on_failure = reboot");
}

// pid1.on_failure = hang: it stays up (reaping, signals still work) instead of
// ending; SIGUSR2 then powers off.
TEST(pid1, core_giving_up_hangs_when_configured) {
  REQUIRE_PID1_SUPPORT();
  pid1_device dev({"--set", "testing.faults=uevent.read*50", "--set", "pid1.on_failure=hang"}, {},
                  "hanging");
  ASSERT_TRUE(dev.ready);
  EXPECT_FALSE(dev.proc->wait(300ms)) << "PID 1 ended instead of hanging";
  EXPECT_EQ(read_file(dev.hook()), "");
  ::kill(dev.boot_pid, SIGUSR2);
  EXPECT_EQ(dev.wait_exit(), 1);
  EXPECT_EQ(read_file(dev.hook()), "poweroff\n");
}

}  // namespace
