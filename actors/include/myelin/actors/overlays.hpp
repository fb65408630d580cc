// The device's overlay store as configured ([overlays], apphost.base_dir, the
// configured apps), shared by the console (push, hashes, rollback) and the app
// manager (the module each app is started from).
//
// Control API (actors/src/console_overlays.cpp, docs/reference/control-api.md):
//   GET  /v1/overlays              -> {"stack", "last_good", "apps": {app: hash}}
//   GET  /v1/overlays/apps/<app>   -> {"app", "hash", "files": {path: sha256}}
//   POST /v1/overlays              body: an overlay bundle (overlay_store.hpp), streamed,
//                                  at most overlays.max_bytes -> the result per app
//   POST /v1/overlays/rollback     -> the stack becomes last-good, changed apps restart
//   POST /v1/overlays/clear        -> no overlays at all, changed apps restart
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "myelin/runtime/config.hpp"
#include "myelin/runtime/overlay_store.hpp"

namespace myelin::actors {

/// What the console needs for the overlay routes.
struct overlay_service_options {
  /// Null: no overlays (the routes answer 503).
  std::shared_ptr<runtime::overlay_store> store;
  /// A pushed app that crashes within this window rolls the stack back.
  std::chrono::seconds probation{10};
  /// How long a push waits for the restarted apps to be running.
  std::chrono::milliseconds start_timeout{10000};
};

/// The store's options from config: base dir, <state>/overlays, the volatile
/// dir, trusted keys, limits, the configured apps. The test hook
/// $MYELIN_OVERLAY_CRASH_AT=N kills myelin-boot at point N of apply.
/// Errors: config_errc::bad_value for a malformed trusted key.
caf::expected<runtime::overlay_store_options> overlay_options_from(const runtime::config& cfg,
                                                                   const std::string& state_dir);

/// Opens the store (recovering from an interrupted apply) and fills the
/// console.s options. A store that cannot be opened is logged and left out
/// (the base apps still run). Errors: see overlay_options_from.
caf::expected<overlay_service_options> open_overlay_service(const runtime::config& cfg,
                                                            const std::string& state_dir);

}  // namespace myelin::actors
