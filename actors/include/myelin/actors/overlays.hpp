// The overlays service: the one owner of the device's overlay store
// ([overlays], apphost.base_dir, the configured apps). It alone changes the
// store — push, restart of the changed apps, probation, rollback, clear, and
// clearing for a new firmware, which the firmware service asks it for. The
// app manager reads the store (the module each app starts from) but never
// writes it. Registered as `overlays`.
//
// Protocol (every reply or error; refusals carry overlay_errc):
//   (overlays_info_atom)                  -> overlays_info
//   (overlays_files_atom, std::string app) -> overlay_app_files | unknown_app
//   (overlays_push_atom, std::string bundle) -> overlay_result
//        Applies the bundle, restarts the apps it changes and waits for each
//        to answer running (app_restart's reply); if one does not, rolls the
//        stack back, restarts them again and answers ok = false. A success
//        puts the changed apps on probation: an exit of one of them within
//        overlays.probation_s (app_down_atom from the app manager) rolls back.
//        Errors: the store's refusal (bad_signature, too_large, ...), nothing changed.
//   (overlays_rollback_atom)              -> overlay_result | no_last_good
//   (overlays_clear_atom)                 -> overlay_result
//   (overlays_switch_atom, std::string from_slot, std::string to_slot) -> caf::unit
//        The firmware service switched the next boot from one slot to the
//        other. The overlays belong to the firmware they were pushed on: the
//        running apps keep them; the next boot, if it runs the other
//        firmware, sets them aside (inactive) unless a later switch goes back
//        to the slot they were made for. Errors: io_error.
//   (overlays_validated_atom)            -> caf::unit
//        The running firmware was validated: overlays set aside for the one
//        before it are dropped (it will not come back by a revert).
// At its start — after kv, before any app — the service makes the overlays
// follow the firmware (decision 0077): set aside when the boot runs another
// firmware than they were made for; back as the stack when the firmware they
// were made for runs again (a revert); dropped once the new one is validated.
// Pushes, rollbacks and clears run one at a time, in the order they arrive.
//
// Control API (actors/src/overlays/console_overlays.cpp, docs/reference/control-api.md):
//   GET  /v1/overlays              -> {"stack", "last_good", "apps": {app: hash}}
//   GET  /v1/overlays/apps/<app>   -> {"app", "hash", "files": {path: sha256}}
//   POST /v1/overlays              body: an overlay bundle (overlay_store.hpp), streamed,
//                                  at most overlays.max_bytes -> the result per app
//   POST /v1/overlays/rollback     -> the stack becomes last-good, changed apps restart
//   POST /v1/overlays/clear        -> no overlays at all, changed apps restart
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using overlays_info_atom = caf::atom_constant<caf::atom("ovinfo")>;
using overlays_files_atom = caf::atom_constant<caf::atom("ovfiles")>;
using overlays_push_atom = caf::atom_constant<caf::atom("ovpush")>;
using overlays_rollback_atom = caf::atom_constant<caf::atom("ovrollback")>;
using overlays_clear_atom = caf::atom_constant<caf::atom("ovclear")>;
using overlays_switch_atom = caf::atom_constant<caf::atom("ovswitch")>;
using overlays_validated_atom = caf::atom_constant<caf::atom("ovvalid")>;

inline constexpr caf::atom_value overlays_registry_name = caf::atom("overlays");

/// One app that a push, rollback or clear changed, as it is now.
struct overlay_app_row {
  std::string name;
  /// The app's hash in the store (empty: the app is gone).
  std::string hash;
  /// Its state and module as the app manager answered (empty when it has no
  /// such app, e.g. removed).
  std::string state;
  std::string module;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, overlay_app_row& x) {
  return f(caf::meta::type_name("overlay_app_row"), x.name, x.hash, x.state, x.module);
}

/// How a push, rollback or clear ended.
struct overlay_result {
  /// Every changed app runs its new version.
  bool ok = true;
  /// The overlay a push applied.
  std::string overlay;
  std::vector<overlay_app_row> apps;
  /// > 0: the changed apps are on probation for this long.
  int64_t probation_s = 0;
  /// App -> why it did not come up (or failed on probation).
  std::map<std::string, std::string> failed;
  /// The stack went back to last-good after a failure.
  bool rolled_back = false;
  /// What went wrong, for the user (empty when ok).
  std::string error;
  /// App -> the last lines it wrote to stderr (failed apps only).
  std::map<std::string, std::vector<std::string>> log;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, overlay_result& x) {
  return f(caf::meta::type_name("overlay_result"), x.ok, x.overlay, x.apps, x.probation_s, x.failed,
           x.rolled_back, x.error, x.log);
}

/// GET /v1/overlays.
struct overlays_info {
  /// name, persistent — of the stack and of last-good.
  std::vector<std::pair<std::string, bool>> stack;
  std::vector<std::pair<std::string, bool>> last_good;
  /// app -> hash, every app the store knows.
  std::map<std::string, std::string> apps;
  /// Apps that overlays brought (not in the config).
  std::vector<std::string> pushed_apps;
  bool allow_new_apps = false;
  uint64_t max_bytes = 0;
  /// The last rollback after a failure since boot (when has_last_rollback).
  bool has_last_rollback = false;
  overlay_result last_rollback;
  /// The next boot sets the overlays aside (a firmware switch).
  bool aside_at_boot = false;
  /// Overlays set aside for the firmware in aside_slot (when has_aside):
  /// their stack; restored if that firmware runs again.
  bool has_aside = false;
  std::string aside_slot;
  std::vector<std::pair<std::string, bool>> aside_stack;
  /// What a signed overlay must name (anti-rollback): the running firmware's
  /// nerves_fw_uuid and a sequence above `sequence`; `bound`: required.
  std::string firmware_uuid;
  uint64_t sequence = 0;
  bool bound = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, overlays_info& x) {
  return f(caf::meta::type_name("overlays_info"), x.stack, x.last_good, x.apps, x.pushed_apps,
           x.allow_new_apps, x.max_bytes, x.has_last_rollback, x.last_rollback, x.aside_at_boot,
           x.has_aside, x.aside_slot, x.aside_stack, x.firmware_uuid, x.sequence, x.bound);
}

/// GET /v1/overlays/apps/<app>.
struct overlay_app_files {
  std::string app;
  std::string hash;
  /// path -> sha256.
  std::map<std::string, std::string> files;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, overlay_app_files& x) {
  return f(caf::meta::type_name("overlay_app_files"), x.app, x.hash, x.files);
}

/// What the overlays service needs.
struct overlay_service_options {
  /// Null: no overlays (requests are answered with overlay_errc::unavailable).
  std::shared_ptr<runtime::overlay_store> store;
  /// <state>/overlays: where the firmware switch's mark is kept.
  std::string persistent_dir;
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
/// service's options. A store that cannot be opened is logged and left out
/// (the base apps still run).
/// Errors: see overlay_options_from.
caf::expected<overlay_service_options> open_overlay_service(const runtime::config& cfg,
                                                            const std::string& state_dir);

/// The name of the firmware switch's mark in persistent_dir (holds the slot
/// the overlays were made for): the next boot, on other firmware, sets them aside.
inline constexpr const char* switch_mark_file = "firmware-switched";

/// A start function for the overlays service (a core worker). With overlays
/// on probation at boot (a stack newer than last-good), the probation runs
/// again for the apps that use it.
supervisors::start_fn overlays_start(overlay_service_options opts);

}  // namespace myelin::actors
