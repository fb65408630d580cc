// The protocol of the app manager (implemented in bootloader/, spoken by the
// console): the applications' states and how to start, stop, restart and call
// them.
//
//   (supervisors::which_children_atom)   -> std::vector<child_info>: one row per app
//   (apps_status_atom)                   -> std::vector<app_status>, in start order
//   (app_start_atom, std::string name)   -> app_status | unknown_app, start_failed
//   (app_stop_atom, std::string name)    -> caf::unit | unknown_app
//   (app_restart_atom, std::string name) -> app_status | unknown_app, start_failed
//        Start and restart answer when the (new) instance is ready — the row
//        then holds the module it loaded and its hash — or with start_failed
//        and the reason (its exit, "it was stopped before it was ready") when
//        it ended first. The caller's timeout bounds the wait.
//        An app the manager does not have but the overlay store does (a new
//        app, pushed) is installed and started; a pushed app the store no
//        longer has (push --remove, a rollback past its first push) is
//        stopped and removed (the row's state is then "removed"). Settings
//        (config, app.toml) are read anew.
//   (app_call_atom, std::string name, std::string command, std::vector<std::string> args)
//        -> std::string | unknown_app, not_running, command_failed (the app's reason)
// The manager sends each service named in apps_options::exit_listeners
//   (app_down_atom, std::string name, std::string why)
// when an app's instance ends without being asked to (a crash, an exit, the
// app's failure). Registered as `apps`.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

namespace myelin::actors {

using apps_status_atom = caf::atom_constant<caf::atom("appstatus")>;
using app_start_atom = caf::atom_constant<caf::atom("appstart")>;
using app_stop_atom = caf::atom_constant<caf::atom("appstop")>;
using app_restart_atom = caf::atom_constant<caf::atom("apprestart")>;
using app_call_atom = caf::atom_constant<caf::atom("appcall")>;
using app_down_atom = caf::atom_constant<caf::atom("appdown")>;

inline constexpr caf::atom_value apps_registry_name = caf::atom("apps");

/// Why an app (host) stopped or a request about an app failed (category "app").
enum class app_errc : uint8_t {
  /// The module is missing, not loadable or built for another ABI.
  module_refused = 1,
  /// The app's start function failed.
  start_failed,
  /// The app host was killed by a signal (segfault, abort, out of memory ...).
  crashed,
  /// The app host exited with a non-zero code.
  exited,
  /// The app host stopped answering heartbeats and was killed.
  missed_heartbeat,
  /// No app of that name is configured.
  unknown_app,
  /// The app is not running (stopped, starting, restarting or failed).
  not_running,
  /// The app answered a command with an error (or does not know it).
  command_failed,
  /// The app host sent what the link does not allow (a malformed or
  /// oversized frame, a message past the decode limits, a type it may not
  /// send): the core killed it (decision 0078).
  protocol_violation,
};

std::string to_string(app_errc x);

caf::error make_error(app_errc x, std::string context);

/// An app's state as `myelin status` shows it.
struct app_status {
  std::string name;
  /// starting, running, restarting, stopped or failed.
  std::string state;
  std::string module;
  std::string isolation;
  /// Exits that were not asked for (each followed by a restart unless failed).
  uint64_t restarts = 0;
  /// Since the current instance became ready; 0 if not running.
  int64_t uptime_ms = 0;
  /// Why it last stopped, or failed.
  std::string last_exit;
  /// Its memory limit and how it is enforced, e.g. "256 MiB (RLIMIT_AS)",
  /// "256 MiB (cgroup /sys/fs/cgroup/...)", or "none"; empty before it starts.
  std::string memory_limit;
  /// The app's hash (overlay_store::app_hash) when its instance was started;
  /// empty without an overlay store.
  std::string hash;
  /// Where it comes from: "firmware" (the config lists it) or "pushed" (an
  /// overlay brought it).
  std::string origin;
  /// Where its settings come from, e.g. "config: restart; app.toml:
  /// memory_limit_mb, intensity" ("defaults" when neither sets any).
  std::string settings;
  /// The start function the running instance was started with: "start" or
  /// "start_host" (device.target = "host" and the app has one); empty
  /// before it is ready.
  std::string start;
  /// What it may do through the core's services (runtime::describe of its
  /// app_grants).
  std::string grants;
  /// How its host is confined (decision 0079), e.g. "uid 70001, no
  /// capabilities, no_new_privs, seccomp (…)"; empty before it starts.
  std::string sandbox;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, app_status& x) {
  return f(caf::meta::type_name("app_status"), x.name, x.state, x.module, x.isolation, x.restarts,
           x.uptime_ms, x.last_exit, x.memory_limit, x.hash, x.origin, x.settings, x.start,
           x.grants, x.sandbox);
}

}  // namespace myelin::actors
