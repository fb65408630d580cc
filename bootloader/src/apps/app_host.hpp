// The app_host actor: owns one myelin-apphost process and its link.
//
// Accepts:
//   (app_call_atom, std::string command, std::vector<std::string> args)
//        -> std::string | app_errc::command_failed
//   exit user_shutdown (trapped): SIGTERM to the process, SIGKILL after
//        `stop_timeout`, then quits with user_shutdown
// Sends the manager: (app_event_atom, name, event, detail) with event
//   "start" (detail: "start" or "start_host", just before "ready"), "ready"
//   (detail: module path) or "exited" (detail: why).
// Quits with: normal (the host exited 0), or app_errc crashed / exited /
// module_refused / start_failed / missed_heartbeat. Its exit kills the
// process if it still runs, so no app host outlives its actor.
#pragma once

#include "myelin/runtime/apps/app_grants.hpp"
#include "myelin/runtime/platform/sandbox.hpp"

#include <chrono>
#include <string>

#include <caf/actor.hpp>
#include <caf/atom.hpp>

#include "myelin/supervisors/supervisor.hpp"

namespace myelin::bootloader {

using app_event_atom = caf::atom_constant<caf::atom("appevent")>;

struct app_host_options {
  std::string name;
  std::string module;
  std::string apphost_path;
  size_t scheduler_threads = 2;
  std::string scheduler_policy = "sharing";
  /// device.target ("host" runs the app's start_host when it has one).
  std::string target = "host";
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds heartbeat_timeout{3000};
  std::chrono::milliseconds stop_timeout{4000};
  uint64_t memory_limit_mb = 0;
  /// What the app may ask of the core's services (checked on every request).
  runtime::app_grants grants;
  /// apphost.sandbox: no_new_privs, seccomp and (as root) a user of its own.
  bool sandbox = true;
  /// Its user and private data directory (own_user: switch users when root).
  runtime::app_identity_options identity;
  caf::actor manager;
};

/// Starts the process and the actor that owns it. Errors: the process could
/// not be created (socketpair, fork).
supervisors::start_fn app_host_start(app_host_options opts);

}  // namespace myelin::bootloader
