// Applications in myelin-boot: the app manager (the triage layer under the
// root supervisor) and the app host actors it supervises.
//
// Tree:  root ─ apps (app manager) ─ <app> (supervisor: restart, intensity,
//        period, back-off from apps.<app>.*) ─ host (an app_host actor that owns
//        one myelin-apphost process)
//
// The app manager speaks the protocol of myelin/actors/apps.hpp. It sends
// nothing on its own; on a failed app it runs the failure policy
// (continue, halt or reboot). Registered as `apps`. An app that exceeds its
// restart intensity is marked failed; it never takes the manager, or the
// core, down with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/actors/apps.hpp"
#include "myelin/actors/firmware.hpp"
#include "myelin/runtime/apps/app_grants.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::bootloader {

using actors::app_call_atom;
using actors::app_errc;
using actors::app_restart_atom;
using actors::app_start_atom;
using actors::app_status;
using actors::app_stop_atom;
using actors::apps_registry_name;
using actors::apps_status_atom;
using actors::make_error;

/// What to do when an app fails (exceeds its restart intensity).
enum class failure_action : uint8_t { continue_running, halt, reboot };

/// Everything the app manager needs, from config.
struct apps_options {
  struct app {
    std::string name;
    bool enabled = true;
    std::string module;
    std::string isolation = "process";
    supervisors::restart_type restart = supervisors::restart_type::permanent;
    int intensity = 3;
    std::chrono::milliseconds period{5000};
    std::chrono::milliseconds backoff_min{0};
    std::chrono::milliseconds backoff_max{10000};
    uint64_t memory_limit_mb = 512;
    failure_action on_failure = failure_action::continue_running;
    /// What it may do through the core's services (device config only).
    runtime::app_grants grants;
    /// apps.<name>.user: who its host runs as when myelin-boot is root
    /// (empty: a user of its own).
    std::string user;
    /// Where the settings come from (app_status::settings).
    std::string settings = "defaults";
  };
  /// The configured apps, in start order (settings from the config alone;
  /// app_settings_of adds each app's app.toml when it starts).
  std::vector<app> apps;
  /// The device's config: each start merges it with the app's app.toml.
  std::shared_ptr<const runtime::config> config;
  /// <apphost.base_dir>, absolute.
  std::string base_dir;
  /// device.target as resolved: "host" runs an app's start_host when it has one.
  std::string target = "host";
  std::string apphost_path;
  size_t scheduler_threads = 2;
  std::string scheduler_policy = "sharing";
  std::chrono::milliseconds heartbeat{1000};
  std::chrono::milliseconds heartbeat_timeout{3000};
  /// apphost.sandbox: confine app hosts (decision 0079).
  bool sandbox = true;
  /// <state.dir>/<apphost.data_dir>, absolute: the apps' private directories.
  std::string data_root;
  uint32_t uid_base = 70000;
  uint32_t uid_count = 1000;
  /// Runs a failure action other than continue.
  actors::power_request_fn request_power;
  /// The policy hook: chooses what a failed app does. Default: the app's
  /// on_failure. If the hook throws, the app fails with `continue`.
  std::function<failure_action(const app_status&, failure_action configured)> policy;
  /// Where an app's module comes from when apps.<name>.module is not set
  /// (null: <apphost.base_dir>/<app>/lib<app>.so).
  std::shared_ptr<runtime::overlay_store> overlays;
  /// Registry names of services told of every app instance that ends on its
  /// own: (app_down_atom, name, why). The overlays service's probation.
  std::vector<caf::atom_value> exit_listeners;
};

/// One app's settings: `[apps.<name>]` of `opts.config`, with the keys it
/// leaves out taken from the app's app.toml (the overlay store's resolved
/// tree, else <base_dir>/<name>/app.toml), else the schema's defaults.
/// Errors: the app.toml's error (config_errc naming the key and line).
caf::expected<apps_options::app> app_settings_of(const apps_options& opts, const std::string& name);

/// Reads [apphost] and [apps.*]. Errors: config_errc naming the key.
caf::expected<apps_options> apps_options_from(const runtime::config& cfg,
                                              const std::string& boot_binary_dir);

/// A start function for the app manager (a supervisor-type child of root).
supervisors::start_fn app_manager_start(apps_options opts);

}  // namespace myelin::bootloader
