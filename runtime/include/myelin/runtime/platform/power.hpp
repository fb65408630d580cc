// Reboot, power off and halt: stop the applications, then the core, each
// within a time limit, sync, then the system call (as PID 1) or the configured
// command (under another init). Every step can be replaced, so tests record
// the order instead of rebooting the machine.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace myelin::runtime {

enum class power_action : uint8_t { reboot, poweroff, halt };

std::string to_string(power_action a);

/// Parses "reboot", "poweroff" or "halt".
caf::expected<power_action> parse_power_action(const std::string& text);

struct power_options {
  /// Use the reboot(2) system call (myelin-boot is PID 1). Otherwise run the
  /// command for the action; an empty command only stops myelin-boot.
  bool system_call = false;
  std::string reboot_command;
  std::string poweroff_command;
  std::string halt_command;
  /// Each of the two stop steps is cut short after this.
  std::chrono::milliseconds stop_timeout{10'000};
};

/// The steps of the sequence. stop_apps / stop_core return false when they
/// did not finish in time (the sequence goes on regardless).
struct power_steps {
  std::function<bool(std::chrono::milliseconds)> stop_apps;
  std::function<bool(std::chrono::milliseconds)> stop_core;
  std::function<void()> sync;
  /// The kernel call; the argument (e.g. "0 tryboot") reaches the kernel with
  /// LINUX_REBOOT_CMD_RESTART2. Returns only on failure (the errno).
  std::function<int(power_action, const std::string& arg)> system_call;
  /// Runs a command with /bin/sh; returns its exit code.
  std::function<int(const std::string& command)> run_command;
};

/// The real steps for the last part: ::sync(), reboot(2), /bin/sh.
/// (stop_apps / stop_core must be given by the caller.)
power_steps default_power_steps();

/// Runs the sequence and returns what it did, one line a step, e.g.
/// {"stop apps", "stop core", "sync", "system call reboot 0 tryboot"}.
/// A reboot argument is only passed by reboot; commands get it appended.
std::vector<std::string> run_power_sequence(power_action action, const std::string& arg,
                                            const power_options& opts, const power_steps& steps);

/// Skips the graceful stops (factory reset): sync, then the system call or
/// command at once.
std::vector<std::string> run_immediate_power(power_action action, const std::string& arg,
                                             const power_options& opts, const power_steps& steps);

}  // namespace myelin::runtime
