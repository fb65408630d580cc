// Tests of runtime/src/platform/power.cpp: the order of the power sequence, with the
// system call and commands replaced by recording hooks.
#include "myelin/runtime/platform/power.hpp"

#include <gtest/gtest.h>

using namespace myelin::runtime;

namespace {

struct recorder {
  std::vector<std::string> calls;
  bool apps_in_time = true;

  power_steps steps() {
    power_steps s;
    s.stop_apps = [this](std::chrono::milliseconds) {
      calls.emplace_back("apps");
      return apps_in_time;
    };
    s.stop_core = [this](std::chrono::milliseconds) {
      calls.emplace_back("core");
      return true;
    };
    s.sync = [this] { calls.emplace_back("sync"); };
    s.system_call = [this](power_action a, const std::string& arg) {
      calls.push_back("kernel " + to_string(a) + "(" + arg + ")");
      return 0;
    };
    s.run_command = [this](const std::string& c) {
      calls.push_back("sh " + c);
      return 0;
    };
    return s;
  }
};

}  // namespace

// As PID 1: apps stop before the core, then sync, then the kernel call with
// the reboot argument.
TEST(power, pid1_order_apps_core_sync_kernel) {
  recorder r;
  power_options opts;
  opts.system_call = true;
  auto log = run_power_sequence(power_action::reboot, "0 tryboot", opts, r.steps());
  EXPECT_EQ(r.calls,
            (std::vector<std::string>{"apps", "core", "sync", "kernel reboot(0 tryboot)"}));
  EXPECT_EQ(log.back(), "system call reboot 0 tryboot");
}

// Under another init the configured command runs instead of the kernel call.
TEST(power, command_under_other_init) {
  recorder r;
  power_options opts;
  opts.poweroff_command = "systemctl poweroff";
  run_power_sequence(power_action::poweroff, "ignored", opts, r.steps());
  EXPECT_EQ(r.calls, (std::vector<std::string>{"apps", "core", "sync", "sh systemctl poweroff"}));
}

// With no command configured (host mode), the sequence only stops myelin.
TEST(power, host_mode_stops_only) {
  recorder r;
  auto log = run_power_sequence(power_action::halt, "", power_options{}, r.steps());
  EXPECT_EQ(r.calls, (std::vector<std::string>{"apps", "core", "sync"}));
  EXPECT_EQ(log.back(), "no command configured: stopping only");
}

// A stop that times out is reported and the sequence still goes on.
TEST(power, stop_timeout_goes_on) {
  recorder r;
  r.apps_in_time = false;
  power_options opts;
  opts.system_call = true;
  auto log = run_power_sequence(power_action::reboot, "", opts, r.steps());
  EXPECT_EQ(log.front(), "stop apps: timed out");
  EXPECT_EQ(r.calls.back(), "kernel reboot()");
}

// The immediate variant (factory reset) skips the graceful stops.
TEST(power, immediate_skips_stops) {
  recorder r;
  power_options opts;
  opts.system_call = true;
  run_immediate_power(power_action::reboot, "", opts, r.steps());
  EXPECT_EQ(r.calls, (std::vector<std::string>{"sync", "kernel reboot()"}));
}

// Power actions parse by name; anything else is refused.
TEST(power, parse_action) {
  EXPECT_EQ(*parse_power_action("poweroff"), power_action::poweroff);
  EXPECT_FALSE(parse_power_action("shutdown"));
}
