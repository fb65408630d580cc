// Supervised OS programs ([daemons.<name>]) with a real myelin-boot and real
// shell scripts: restarts by policy, no descendant surviving, SIGKILL after
// an ignored SIGTERM, output in the log and its flood limited, users, bad
// configuration.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"

using namespace myelin::test;
using namespace std::chrono_literals;

namespace {

/// An executable shell script `name` in `dir`.
std::string script(const temp_dir& dir, const std::string& name, const std::string& body) {
  auto path = dir / name;
  write_file(path, "#!/bin/sh\n" + body);
  ::chmod(path.c_str(), 0755);
  return path.string();
}

nlohmann::json daemon_of(const booted_device& dev, const std::string& name) {
  auto r = run_myelin({"daemons", "--json", "--device", dev.address()});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  if (doc.is_array()) {
    for (const auto& d : doc) {
      if (d.value("name", "") == name) {
        return d;
      }
    }
  }
  return {{"state", "?"}, {"output", r.output}};
}

/// Running (a zombie waiting for its reaper is not).
bool alive(pid_t pid) {
  auto st = stat_of(pid);
  return pid > 0 && st && st->state != 'Z';
}

std::vector<pid_t> pids_in(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::vector<pid_t> out;
  for (pid_t p = 0; in >> p;) {
    out.push_back(p);
  }
  return out;
}

/// --set options of one daemon.
std::vector<std::string> daemon_args(const std::string& name, const std::string& command,
                                     std::vector<std::string> more = {}) {
  std::vector<std::string> out{"--set", "daemons." + name + ".command=" + command};
  for (auto& m : more) {
    out.insert(out.end(), {"--set", "daemons." + name + "." + m});
  }
  for (const char* app : {"hello", "ticker", "fault"}) {
    out.insert(out.end(), {"--set", std::string{"apps."} + app + ".enabled=false"});
  }
  return out;
}

}  // namespace

// A program that keeps crashing is restarted with a growing delay until its
// intensity is spent, then `failed` — and the device goes on; `myelin
// daemons restart` brings it back.
TEST(daemons, crashes_restart_until_failed_then_restart_on_request) {
  temp_dir dir;
  auto crash = script(dir, "crash.sh", "echo run >> '" + (dir / "runs").string() + "'\nexit 3\n");
  booted_device dev{daemon_args("crash", crash, {"intensity=2", "period_ms=60000"})};
  ASSERT_GT(dev.port, 0);
  ASSERT_TRUE(
      eventually([&] { return daemon_of(dev, "crash").value("state", "") == "failed"; }, 20s))
      << daemon_of(dev, "crash").dump();
  auto d = daemon_of(dev, "crash");
  EXPECT_EQ(d.value("restarts", -1), 2) << d.dump();
  EXPECT_EQ(d.value("last_exit", ""), "exited with code 3") << d.dump();
  std::ifstream runs(dir / "runs");
  int lines = 0;
  for (std::string l; std::getline(runs, l);) {
    ++lines;
  }
  EXPECT_EQ(lines, 3);
  EXPECT_TRUE(dev.proc->wait_for_line("daemon crash failed: exited with code 3", 5s))
      << dev.proc->output();
  // The core and the control channel are untouched, and say it.
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.output.find("daemons:  crash failed"), std::string::npos) << status.output;

  auto again = run_myelin({"daemons", "restart", "crash", "--device", dev.address()});
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_TRUE(eventually(
      [&] {
        std::ifstream in(dir / "runs");
        int n = 0;
        for (std::string l; std::getline(in, l);) {
          ++n;
        }
        return n > 3;
      },
      10s));
  auto unknown = run_myelin({"daemons", "restart", "nope", "--device", dev.address()});
  EXPECT_NE(unknown.exit_code, 0);
  EXPECT_NE(unknown.output.find("no daemon 'nope'"), std::string::npos) << unknown.output;
}

// Grandchildren — in the process group, and one that left it with setsid —
// die with the program, whether it crashes or is stopped; the restarted run
// is a new process.
TEST(daemons, no_descendant_survives_a_crash_or_a_stop) {
  if (program_path("setsid").empty()) {
    GTEST_SKIP() << "setsid (util-linux) is not installed";
  }
  temp_dir dir;
  auto pids = dir / "pids";
  auto p = pids.string();
  auto body = "sleep 1000 &\necho $! >> '" + p + "'\nsetsid sh -c 'echo $$ >> \"" + p +
              "\"; exec sleep 1001' &\nsleep 0.2\necho $$ >> '" + p + "'\nexec sleep 1002\n";
  auto forker = script(dir, "forker.sh", body);
  std::optional<booted_device> dev{std::in_place, daemon_args("forker", forker)};
  ASSERT_GT(dev->port, 0);
  ASSERT_TRUE(eventually([&] { return pids_in(pids).size() >= 3; }, 10s));
  auto first = pids_in(pids);
  for (auto p : first) {
    EXPECT_TRUE(alive(p)) << p;
  }
  auto d = daemon_of(*dev, "forker");
  ASSERT_EQ(d.value("state", ""), "running") << d.dump();
  EXPECT_NE(d.value("cgroup", "").find("myelin-daemon-forker"), std::string::npos) << d.dump();
  // The program itself dies (kill -9): everything it started goes with it.
  ::kill(static_cast<pid_t>(d["pid"].get<int64_t>()), SIGKILL);
  EXPECT_TRUE(eventually(
      [&] {
        for (auto p : first) {
          if (alive(p)) {
            return false;
          }
        }
        return true;
      },
      5s));
  ASSERT_TRUE(eventually([&] { return pids_in(pids).size() >= 6; }, 10s)) << "not restarted";
  auto second = pids_in(pids);
  second.erase(second.begin(), second.begin() + 3);
  // Stopping the device stops the daemon and all of its descendants.
  dev->proc->signal(SIGTERM);
  ASSERT_TRUE(dev->proc->wait(20s));
  for (auto p : second) {
    EXPECT_TRUE(eventually([&] { return !alive(p); }, 5s))
        << p << " survived the stop: " << read_file("/proc/" + std::to_string(p) + "/cmdline");
  }
}

// A program that ignores SIGTERM is killed stop_timeout_ms later.
TEST(daemons, sigterm_ignored_killed_after_stop_timeout) {
  temp_dir dir;
  auto stubborn = script(dir, "stubborn.sh", "trap '' TERM\nwhile :; do sleep 0.1; done\n");
  std::optional<booted_device> dev{std::in_place,
                                   daemon_args("stubborn", stubborn, {"stop_timeout_ms=300"})};
  ASSERT_GT(dev->port, 0);
  ASSERT_TRUE(
      eventually([&] { return daemon_of(*dev, "stubborn").value("state", "") == "running"; }, 10s));
  auto pid = static_cast<pid_t>(daemon_of(*dev, "stubborn")["pid"].get<int64_t>());
  dev->proc->signal(SIGTERM);
  ASSERT_TRUE(dev->proc->wait(20s));
  EXPECT_FALSE(alive(pid));
  EXPECT_NE(
      dev->proc->output().find("daemon stubborn: still running 300 ms after SIGTERM: SIGKILL"),
      std::string::npos)
      << dev->proc->output();
}

// stdout and stderr are in the log under the daemon's name; a flood is cut
// to log_lines_per_s and counted, and the core keeps answering.
TEST(daemons, output_in_the_log_and_floods_limited) {
  temp_dir dir;
  auto chatty = script(dir, "chatty.sh",
                       "echo 'hello from the daemon'\necho 'to stderr' >&2\nsleep 0.3\n"
                       "i=0; while [ $i -lt 20000 ]; do echo \"line $i\"; i=$((i+1)); done\n"
                       "exec sleep 1000\n");
  booted_device dev{daemon_args("chatty", chatty, {"log_lines_per_s=50"})};
  ASSERT_GT(dev.port, 0);
  ASSERT_TRUE(
      eventually([&] { return daemon_of(dev, "chatty").value("dropped_lines", 0) > 10000; }, 20s))
      << daemon_of(dev, "chatty").dump();
  auto logs = run_myelin({"logs", "--source", "chatty", "-n", "1000", "--device", dev.address()});
  EXPECT_NE(logs.output.find("hello from the daemon"), std::string::npos) << logs.output;
  EXPECT_NE(logs.output.find("to stderr"), std::string::npos) << logs.output;
  EXPECT_EQ(run_myelin({"status", "--device", dev.address()}).exit_code, 0);
}

// user = "nobody": the program runs with that uid; an unknown user is
// refused with the key's name and the section falls back.
TEST(daemons, runs_as_its_user_and_bad_config_refused) {
  MYELIN_REQUIRE_ROOT();
  temp_dir dir;
  ::chmod(dir.path().c_str(), 0777);
  auto ids = dir / "ids";
  auto who = script(dir, "who.sh",
                    "echo $(id -u) $(id -g) $(id -G) > '" + ids.string() + "'\nexec sleep 1000\n");
  {
    booted_device dev{daemon_args("who", who, {"user=nobody"})};
    ASSERT_GT(dev.port, 0);
    ASSERT_TRUE(eventually([&] { return !read_file(ids).empty(); }, 10s));
    EXPECT_EQ(read_file(ids), "65534 65534 65534\n");  // nogroup, no supplementary root
  }
  // A number without a passwd entry: its own number as the group, never root's.
  std::filesystem::remove(ids);
  {
    booted_device dev{daemon_args("who", who, {"user=4242"})};
    ASSERT_GT(dev.port, 0);
    ASSERT_TRUE(eventually([&] { return !read_file(ids).empty(); }, 10s));
    EXPECT_EQ(read_file(ids), "4242 4242 4242\n");
  }
  booted_device bad{daemon_args("who", who, {"user=no-such-user-here"})};
  ASSERT_GT(bad.port, 0);
  auto status = run_myelin({"status", "--device", bad.address()});
  EXPECT_NE(status.output.find("daemons.who.user: no user 'no-such-user-here' on this system"),
            std::string::npos)
      << status.output;
}
