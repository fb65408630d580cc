// The boot sequence of myelin-boot: config, logging, the root supervision tree.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "myelin/actors/firmware.hpp"
#include "myelin/runtime/config/config.hpp"

namespace myelin::actors {
struct boot_progress;
}  // namespace myelin::actors

namespace myelin::bootloader {

/// The names of the top of the tree, as which_children and the status show them.
inline constexpr const char* core_id = "core";
inline constexpr const char* apps_id = "apps";

/// Starts the whole tree (OTP: the application's top supervisor):
///   root (rest_for_one)
///   ├─ core (rest_for_one, core.intensity / core.period_ms): kv, firmware, console
///   └─ apps (one_for_one): the application supervisor
/// `partition` (see runtime/partition/app_partition.hpp) is shown by the console and,
/// when it is a mounted one, erased by factory_reset. `progress`, if set, is
/// what the console shows of the boot's readiness; the core's readiness is
/// recorded there and logged (`core ready after X ms: log, kv, …`) as soon as
/// the core supervisor has started every service, before the apps start.
/// Returns the root supervisor, registered as `root` in the actor registry, or
/// failed_to_start_child naming the service that could not start.
caf::expected<caf::actor> start_tree(caf::actor_system& sys, const runtime::config& cfg,
                                     const std::string& state_dir,
                                     actors::power_request_fn request_power,
                                     std::shared_ptr<runtime::app_partition> partition = {},
                                     std::shared_ptr<actors::boot_progress> progress = {},
                                     const runtime::config* last_good = nullptr);

/// The ids of the children of `sup` in start order (blocking; outside actors).
std::vector<std::string> child_ids(caf::actor_system& sys, const caf::actor& sup);

/// myelin-boot's main: parses the command line, boots, waits for a stop signal,
/// stops everything in reverse start order. Returns the process exit code.
/// In PID 1 mode (PID 1, or --pid1) it also mounts the essential file
/// systems, sets the hostname, reaps every child, takes SIGTERM/SIGINT,
/// SIGUSR1, SIGUSR2 as reboot, halt, poweroff, and when the runtime fails it
/// reboots or hangs (pid1.on_failure): as PID 1 it never returns, except with
/// --test-power-hook outside the initial PID namespace.
int boot_main(int argc, char** argv);

}  // namespace myelin::bootloader
