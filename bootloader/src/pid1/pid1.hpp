// PID 1 duties of myelin-boot: mounting the essential file systems, the
// hostname from the serial number, the signals that mean reboot/halt/poweroff,
// what to do when the runtime itself fails, and the test-only power hook.
#pragma once

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "myelin/runtime/platform/power.hpp"

namespace myelin::bootloader::pid1 {

/// One file system PID 1 mounts when nothing is mounted on its target yet.
struct essential_mount {
  std::string source;
  std::string target;
  std::string fstype;
  unsigned long flags = 0;
  std::string data;
};

/// proc, sysfs, devtmpfs on /dev, devpts on /dev/pts, tmpfs on /run and /tmp.
const std::vector<essential_mount>& essential_mounts();

/// The mount points listed in a /proc/<pid>/mountinfo text (octal escapes
/// such as \040 decoded).
std::vector<std::string> mount_points(const std::string& mountinfo);

/// Mounts every essential file system whose target is not a mount point yet
/// (/proc first, since the check reads /proc/self/mountinfo), creating the
/// target directory if needed. Nothing is fatal: returns one line per file
/// system saying what happened ("mounted tmpfs on /run", "/proc already
/// mounted", "mount devpts on /dev/pts: Permission denied").
std::vector<std::string> mount_essentials();

/// The hostname from `pattern` with each "%s" replaced by `serial`.
std::string hostname_from(const std::string& pattern, const std::string& serial);

/// Asks the kv service for the serial number and sets the hostname from
/// `pattern` (empty: leave the hostname alone). Returns what it did, for the
/// log, or the error.
std::string set_hostname(caf::actor_system& sys, const std::string& pattern);

/// The power action a signal asks PID 1 for: SIGTERM and SIGINT (Ctrl-Alt-Del)
/// reboot, SIGUSR1 halts, SIGUSR2 powers off.
std::optional<runtime::power_action> action_for_signal(int sig);

/// True when this process is in the initial PID namespace (a real device's
/// init), or when that cannot be told. The test power hook refuses to work there.
bool in_initial_pid_namespace();

/// The system-call step of the power sequence replaced by the test hook:
/// appends "<action>[ <arg>]\n" to `file` and returns 0 instead of calling
/// reboot(2). Only for tests (see --test-power-hook in boot.cpp).
std::function<int(runtime::power_action, const std::string&)> recording_system_call(
    std::string file);

}  // namespace myelin::bootloader::pid1
