// Supervised OS programs (what MuonTrap does for Nerves): chronyd, an SSH
// server, any program the device needs, run and kept running by myelin.
//
// Each `[daemons.<name>]` runs under a supervisor of its own (one worker,
// `process`: one run of the program) with the daemon's restart type,
// intensity and restart delay; the daemon manager owns these supervisors,
// is the triage layer (a daemon that exhausts its intensity is `failed` and
// stays down: it never takes the device with it) and answers for them.
// A run: the program in its own process group and, where cgroup v2 can be
// used, its own cgroup (memory.max, cpu.weight) that it joins before exec;
// stdout and stderr into myelin's log tagged `daemon:<name>` (stdout info,
// stderr warning; at most log_lines_per_s lines a second, the rest counted);
// its end — any exit — kills every descendant (cgroup.kill, else the group);
// a stop is SIGTERM to all of them, SIGKILL after stop_timeout_ms.
//
// Protocol of the manager (registered as `daemons`; supervised by the root,
// between the core and the apps):
//   (daemons_status_atom)                  -> std::vector<daemon_status>, in config order
//   (daemon_restart_atom, std::string name) -> daemon_status once it runs again (a failed
//        or stopped one is started); app_errc::unknown_app for an unknown name
//   (supervisors::which_children_atom)    -> std::vector<child_info> (the tree view)
// On its own: logs each daemon's failure.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/expected.hpp>

#include "myelin/actors/daemons.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::bootloader {

using actors::daemon_event_atom;
using actors::daemon_exited_atom;
using actors::daemon_kill_atom;
using actors::daemon_restart_atom;
using actors::daemon_status;
using actors::daemons_registry_name;
using actors::daemons_status_atom;

/// One `[daemons.<name>]`.
struct daemon_spec {
  std::string name;
  /// argv: a path, or a name looked up on PATH.
  std::vector<std::string> command;
  /// "KEY=VALUE" added to (or replacing in) myelin-boot's environment.
  std::vector<std::string> env;
  std::string work_dir;
  /// A user and group name or number; empty: as myelin-boot runs.
  std::string user;
  std::string group;
  /// Resolved by daemons_options_from: the user's uid, and the group's gid —
  /// the user's own group when no group is given (never root's group for a
  /// non-root user); -1: as myelin-boot.
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  /// cgroup memory.max, MiB; 0: none.
  uint64_t memory_limit_mb = 0;
  /// cgroup cpu.weight (1-10000); 0: none.
  uint32_t cpu_weight = 0;
  supervisors::restart_type restart = supervisors::restart_type::permanent;
  int intensity = 3;
  std::chrono::milliseconds period{5000};
  /// The first restart's delay (systemd's RestartSec, 100 ms); doubling up
  /// to restart_delay_max while it keeps failing.
  std::chrono::milliseconds restart_delay{100};
  std::chrono::milliseconds restart_delay_max{5000};
  std::chrono::milliseconds stop_timeout{5000};
  uint32_t log_lines_per_s = 200;
};

struct daemons_options {
  std::vector<daemon_spec> daemons;
};

/// The enabled `[daemons.<name>]` tables. Errors (config_errc::invalid_value):
/// a daemon without a command, an env entry without '=', an unknown user or
/// group.
caf::expected<daemons_options> daemons_options_from(const runtime::config& cfg);

/// A start function for the daemon manager.
supervisors::start_fn daemons_start(daemons_options opts);

}  // namespace myelin::bootloader
