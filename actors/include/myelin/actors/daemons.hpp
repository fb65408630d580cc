// The messages of the daemon manager (myelin/bootloader/daemons.hpp), which
// the control channel asks: its atoms, registry name and status rows.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

namespace myelin::actors {

using daemons_status_atom = caf::atom_constant<caf::atom("dmnstatus")>;
using daemon_restart_atom = caf::atom_constant<caf::atom("dmnrestart")>;
/// Internal: a run's events (process -> manager) and its monitor thread's
/// report of the program's end (thread -> process).
using daemon_event_atom = caf::atom_constant<caf::atom("dmnevent")>;
using daemon_exited_atom = caf::atom_constant<caf::atom("dmnexited")>;
using daemon_kill_atom = caf::atom_constant<caf::atom("dmnkill")>;

inline constexpr caf::atom_value daemons_registry_name = caf::atom("daemons");

/// What the manager says about one daemon.
struct daemon_status {
  std::string name;
  /// "starting", "running", "restarting", "stopped" (a transient or
  /// temporary one that ended), "failed" (intensity exhausted, or it cannot
  /// start).
  std::string state;
  int64_t pid = -1;
  uint32_t restarts = 0;
  /// How the last run ended ("exited with code 3", "killed by signal 9").
  std::string last_exit;
  std::string command;
  /// The cgroup's path, or why there is none.
  std::string cgroup;
  /// Output lines dropped over the rate limit.
  uint64_t dropped_lines = 0;
  int64_t uptime_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, daemon_status& x) {
  return f(caf::meta::type_name("daemon_status"), x.name, x.state, x.pid, x.restarts, x.last_exit,
           x.command, x.cgroup, x.dropped_lines, x.uptime_ms);
}

}  // namespace myelin::actors
