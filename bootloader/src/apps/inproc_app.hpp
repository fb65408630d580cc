// Apps with `isolation = "inproc"`: the module loaded into myelin-boot itself,
// its tree under the app's own supervisor — no app host, no link, no
// heartbeat, and no protection: a crash in the app takes myelin-boot down.
//
// The actor it starts (the app supervisor's `host` child) accepts:
//   (app_call_atom, std::string command, std::vector<std::string> args)
//        -> std::string | app_errc::command_failed
//        (run one at a time on a thread of their own: a command may block)
//   exit user_shutdown (trapped): stops the app's tree, kills it after
//        `stop_timeout`, then quits with the same reason
// Sends the manager: (app_event_atom, name, event, detail) with "ready",
// "memory" ("none (inproc)") and "exited".
// Quits with: normal when the app's tree ended normally, else
// app_errc::exited naming the tree's exit reason.
#pragma once

#include "apps/app_host.hpp"

namespace myelin::bootloader {

/// Loads the module, starts its tree in this actor system and returns the
/// actor that stands for it. Errors: module_refused (not loadable, wrong ABI),
/// start_failed (the app's start failed or threw). The module stays loaded
/// until the process ends.
supervisors::start_fn inproc_app_start(app_host_options opts);

}  // namespace myelin::bootloader
