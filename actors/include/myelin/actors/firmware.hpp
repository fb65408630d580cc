// The firmware service: slot status, validate, revert, prevent_revert and
// factory_reset, on top of the kv service (Nerves.Runtime's firmware API).
//
// Protocol:
//   (fw_status_atom)             -> runtime::firmware_status
//   (fw_validate_atom)           -> caf::unit | kv errors
//   (fw_revert_atom, bool reboot)-> caf::unit | no_firmware_to_revert_to, unknown_slot,
//                                   slot_corrupt (the other slot does not hash to the image
//                                   recorded for it), kv errors; then, if reboot, asks for a reboot
//   (fw_forget_slot_atom, std::string slot)
//                                -> caf::unit | unknown_slot (slot is the active one, or not
//                                   a/b), kv errors: deletes every `<slot>.*` key, before an
//                                   upload writes the slot's first byte
//   (fw_prevent_revert_atom)     -> caf::unit | kv errors
//   (fw_switch_atom, runtime::firmware_manifest m, std::string slot, std::string running)
//                                -> caf::unit | slot_changed (the active slot is no longer
//                                   `running`), unknown_slot, kv errors
//                                   After a firmware was written into `slot`: one KV write
//                                   makes it active and unvalidated (runtime::install_changes).
//   (fw_upload_session_atom)     -> std::shared_ptr<firmware_upload>: the service's one
//                                   upload (one at a time, its progress). The control
//                                   channel streams a request body into it on its own
//                                   thread; the upload asks this service for the switch.
//   (fw_upload_status_atom)      -> firmware_upload_progress of the last upload
//   Every switch (fw_switch, fw_revert) is told to the overlays service
//   (overlays_switch_atom) before the reply: the overlays belong to the
//   firmware they were pushed on.
//   (fw_factory_reset_atom)      -> caf::unit | write_failed, erase_failed (the app
//                                   partition); erases app_data and the app partition, then asks
//                                   for an immediate reboot (no graceful stop that could undo it)
//   (fw_auto_validate_atom)      -> (nothing) sent to itself `auto_validate_after_s` after it
//                                   starts when that is > 0: validates unvalidated firmware
//                                   if every app (apps service) is running, has not exited
//                                   unplanned, and has run that long (else checks again later,
//                                   or gives up with a warning after an unplanned exit)
// Every KV change is one atomic read-modify-write in the kv service (found in
// the registry as `kv`). Registered as `firmware`; supervised by the core
// supervisor after kv.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/actors/firmware_upload.hpp"
#include "myelin/runtime/firmware/firmware_manifest.hpp"
#include "myelin/runtime/firmware/firmware_status.hpp"
#include "myelin/runtime/partition/app_partition.hpp"
#include "myelin/runtime/platform/power.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using fw_status_atom = caf::atom_constant<caf::atom("fwstatus")>;
using fw_validate_atom = caf::atom_constant<caf::atom("fwvalidate")>;
using fw_revert_atom = caf::atom_constant<caf::atom("fwrevert")>;
using fw_prevent_revert_atom = caf::atom_constant<caf::atom("fwprevent")>;
using fw_factory_reset_atom = caf::atom_constant<caf::atom("fwfactory")>;
using fw_auto_validate_atom = caf::atom_constant<caf::atom("fwautoval")>;
using fw_switch_atom = caf::atom_constant<caf::atom("fwswitch")>;
using fw_upload_session_atom = caf::atom_constant<caf::atom("fwupsess")>;
using fw_upload_status_atom = caf::atom_constant<caf::atom("fwupstat")>;
using fw_forget_slot_atom = caf::atom_constant<caf::atom("fwforget")>;

inline constexpr caf::atom_value firmware_registry_name = caf::atom("firmware");

/// Asks myelin-boot to reboot / power off / halt; `immediate` skips the
/// graceful stop. Called from actors; must not block.
using power_request_fn =
    std::function<void(runtime::power_action action, const std::string& arg, bool immediate)>;

struct firmware_options {
  /// Where uploads go and what this device accepts ([firmware]).
  firmware_upload_options upload;
  /// What factory_reset erases: a directory's contents, or a block device's
  /// first and last MiB. Empty: nothing to erase.
  std::string app_data;
  /// The application partition, erased too by factory_reset (its superblock
  /// wiped, so the next boot reformats it). Null: none.
  std::shared_ptr<runtime::app_partition> app_partition;
  power_request_fn request_power;
  /// While unvalidated, hash the fallback slot at start and forget it if it
  /// no longer holds its recorded image (firmware.check_fallback_at_boot).
  bool check_fallback = false;
  /// The startup guard: validate once every app ran this long cleanly (0: off).
  int64_t auto_validate_after_s = 0;
  /// How many configuration issues the boot found (null: none): the
  /// startup guard does not validate a firmware whose config has any.
  std::function<size_t()> config_issues;
};

/// Erases the application data (see firmware_options::app_data).
caf::error erase_app_data(const std::string& path);

/// A start function for the firmware service.
supervisors::start_fn firmware_start(firmware_options opts);

}  // namespace myelin::actors

namespace myelin::runtime {

/// Serialization (the app-host link carries it).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, firmware_status& x) {
  return f(caf::meta::type_name("firmware_status"), x.active, x.next, x.validation, x.scheme);
}

}  // namespace myelin::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::firmware_manifest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<myelin::actors::firmware_upload>)
