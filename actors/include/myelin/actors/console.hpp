// The control channel: the device's remote-control endpoint (HTTP/1.1 + JSON).
//
// Protocol (see docs/reference/control-api.md):
//   GET /v1/status  -> 200 {"device", "version", "pid", "uptime_ms", "state_dir",
//                           "control", "tree": [child rows, nested for supervisors]}
//   GET /v1/health  -> 200 {"ok": true}
//   GET /v1/kv[?active=1], GET /v1/kv/<key>[?active=1], PUT /v1/kv[?active=1],
//   POST /v1/kv/reload, GET /v1/serial, GET /v1/fw, POST /v1/fw/validate,
//   POST /v1/fw/revert {"reboot": bool}, POST /v1/fw/prevent-revert,
//   POST /v1/fw/factory-reset, POST /v1/power/{reboot,poweroff,halt} {"arg": s},
//   GET /v1/app-partition (console_app_partition.hpp)
//   GET /v1/logs[?since=&app=&source=&level=&limit=&wait_ms=], GET /v1/logs/stats
//        (console_logs.cpp: the ring of runtime::log_hub::current())
//   GET /v1/net[?prefix=P], GET /v1/net/<ifname> (console_net.cpp)
//   GET/POST /v1/overlays... (see overlays.hpp)
//   POST /v1/fw/upload[?reboot=1] (a .fw file, chunked), GET /v1/fw/upload/status
//   anything else   -> 404 {"error": "..."}
// Actor messages:
//   (caf::get_atom) -> std::string   the base URL it serves, e.g. http://127.0.0.1:4848
// It registers itself in the actor registry as `console` and the tree's root as
// `root` is looked up there for /v1/status. Supervised by the core supervisor;
// its listening socket is bound in the start function, so a port in use fails
// the start with the reason (failed_to_start_child), not later.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/atom.hpp>

#include "myelin/actors/firmware_upload.hpp"
#include "myelin/actors/overlays.hpp"
#include "myelin/runtime/partition/app_partition.hpp"
#include "myelin/runtime/platform/power.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

/// What the console needs to know.
/// How far the boot has come, in ms since myelin-boot's main (negative: not
/// yet): the core's services all up, the whole tree started, every app
/// answering (or failed). Written by the boot sequence, shown by GET /v1/status.
struct boot_progress {
  /// When myelin-boot's main began (set before the tree starts).
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<double> core_ready_ms{-1};
  std::atomic<double> ready_ms{-1};
  std::atomic<double> apps_ready_ms{-1};

  /// Milliseconds since `started`.
  double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
        .count();
  }

  /// Problems in the configuration that did not stop the boot (decision
  /// 0074): each names its section, which runs on the last good
  /// configuration's values or the defaults. Shown in GET /v1/status.
  void add_config_issue(std::string section, std::string message) {
    std::lock_guard<std::mutex> lock{mtx_};
    issues_.emplace_back(std::move(section), std::move(message));
  }
  std::vector<std::pair<std::string, std::string>> config_issues() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return issues_;
  }
  /// Where broken sections came from: "last good <path>" or "defaults".
  void config_fallback(std::string what) {
    std::lock_guard<std::mutex> lock{mtx_};
    fallback_ = std::move(what);
  }
  std::string config_fallback() const {
    std::lock_guard<std::mutex> lock{mtx_};
    return fallback_;
  }

 private:
  mutable std::mutex mtx_;
  std::vector<std::pair<std::string, std::string>> issues_;
  std::string fallback_ = "defaults";
};

/// The [control] settings the channel listens with.
struct control_settings {
  std::string address = "127.0.0.1";
  /// 0 picks a free port.
  uint16_t port = 4848;
  bool tls = false;
  std::string cert;
  std::string key;
  std::string client_ca;
  bool allow_unauthenticated = false;
  /// Where they come from, for the log: "the last good configuration", "loopback".
  std::string origin;
};

struct console_options {
  std::string address = "127.0.0.1";
  /// 0 picks a free port.
  uint16_t port = 4848;
  /// HTTPS with client certificates (required unless the address is
  /// loopback or allow_unauthenticated is set).
  bool tls = false;
  std::string cert;
  std::string key;
  std::string client_ca;
  bool allow_unauthenticated = false;
  /// Roles of client certificates (control.admin_clients, control.reader_clients).
  std::vector<std::string> admin_clients{"*"};
  std::vector<std::string> reader_clients;
  /// Tried in order when the settings above cannot listen (a missing
  /// certificate, an address not on the device): the last good
  /// configuration's, then loopback. The one used is reported as a config
  /// issue of [control] (decision 0074).
  std::vector<control_settings> fallbacks;
  std::string device_name = "myelin";
  /// device.target as resolved at boot: "host" or the target's name.
  std::string target = "host";
  std::string state_dir;
  /// What GET /v1/app-partition reports (null: 404).
  std::shared_ptr<runtime::app_partition> app_partition;
  /// How POST /v1/power/<action> reaches myelin-boot.
  std::function<void(runtime::power_action, const std::string& arg, bool immediate)> request_power;
  /// The largest overlay push accepted (overlays.max_bytes; 0: the device
  /// has no overlays). The overlays service does the rest (overlays.hpp).
  uint64_t overlay_max_bytes = 0;
  /// The boot's readiness times for /v1/status (null: not shown).
  std::shared_ptr<boot_progress> boot;
};

/// The registry names the console uses.
inline constexpr caf::atom_value console_registry_name = caf::atom("console");
inline constexpr caf::atom_value root_registry_name = caf::atom("root");

/// A start function for the console, for use in a child spec.
supervisors::start_fn console_start(console_options opts);

}  // namespace myelin::actors
