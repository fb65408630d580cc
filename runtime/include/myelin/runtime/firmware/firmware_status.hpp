// Firmware slot status from the KV store, with Nerves' rules: active slot,
// validation status under both schemes, next boot slot, and the KV changes of
// validate, revert and prevent_revert.
//
// Schemes (REFERENCE.md "Nerves runtime behaviour"):
//  - U-Boot bootcount: when `upgrade_available` exists, "0" means validated and
//    "1" unvalidated (anything else: unknown).
//  - Nerves: otherwise `<active>.nerves_fw_validated`, falling back to the
//    global `nerves_fw_validated`: "1" validated, "0" unvalidated, anything
//    else (or missing) unknown.
// Unknown counts as valid (Nerves' firmware_valid?).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "myelin/runtime/kv/kv_backend.hpp"
#include "myelin/runtime/kv/kv_store.hpp"

namespace myelin::runtime {

/// Errors of firmware operations.
enum class firmware_errc : uint8_t {
  /// revert: the other slot holds no firmware (no platform/architecture
  /// metadata, e.g. after prevent_revert).
  no_firmware_to_revert_to = 1,
  /// The active slot is neither "a" nor "b".
  unknown_slot,
  /// A slot's contents do not match the image recorded for it
  /// (`<slot>.myelin_rootfs_sha256` / `_size`): it is never chosen.
  slot_corrupt,
  /// The running firmware is not validated yet: the other slot is its
  /// fallback and must not be overwritten (validate or revert first).
  unvalidated,
};

std::string to_string(firmware_errc x);

caf::error make_error(firmware_errc x, std::string context);

enum class validation : uint8_t { validated, unvalidated, unknown };

std::string to_string(validation v);

/// Which scheme the environment uses.
enum class validation_scheme : uint8_t { nerves, uboot_bootcount };

std::string to_string(validation_scheme s);

struct firmware_status {
  std::string active;
  std::string next;
  runtime::validation validation = validation::unknown;
  validation_scheme scheme = validation_scheme::nerves;
};

/// "b" for "a", "a" for "b"; empty for anything else.
std::string other_slot(const std::string& slot);

validation_scheme scheme_of(const kv_map& kv);

validation validation_status(const kv_map& kv);

/// Validated or unknown.
bool firmware_valid(const kv_map& kv);

/// The KV suffixes under which install records the image a slot holds
/// (`<slot>.myelin_rootfs_sha256`, `<slot>.myelin_rootfs_size`): distinct
/// from U-Boot's built-in variables and from Nerves' `nerves_fw_*`.
inline constexpr std::string_view rootfs_sha256_suffix = "myelin_rootfs_sha256";
inline constexpr std::string_view rootfs_size_suffix = "myelin_rootfs_size";

/// Whether `slot` has firmware metadata (`<slot>.nerves_fw_platform` and
/// `_architecture`). The metadata is the switch: install deletes it before
/// the first byte reaches the slot and writes it after the last one is
/// synced, so a torn slot has none — and the boot script, which cannot hash
/// a slot, never chooses a slot without it.
bool holds_firmware(const kv_map& kv, const std::string& slot);

/// The image recorded for a slot by install (none: installed before myelin
/// recorded images, or by a factory tool that does not).
struct slot_record {
  std::string sha256;
  uint64_t size = 0;
};
std::optional<slot_record> recorded_image(const kv_map& kv, const std::string& slot);

/// The slot the next boot uses: the active one if valid, else the other one
/// — if it holds firmware (else the active one again).
std::string next_slot(const kv_map& kv);

firmware_status status_of(const kv_map& kv);

/// What validate writes: `upgrade_available=0, bootcount=0,
/// nerves_fw_validated=1` under the U-Boot scheme, else `nerves_fw_validated=1`
/// (and `<active>.nerves_fw_validated=1` when that key exists, since it takes
/// precedence over the global one).
kv_changes validate_changes(const kv_map& kv);

/// What revert writes: the other slot becomes active and counts as validated
/// (it ran before). Error no_firmware_to_revert_to when the other slot has no
/// `nerves_fw_platform` or `nerves_fw_architecture`.
caf::expected<kv_changes> revert_changes(const kv_map& kv);

/// What prevent_revert writes: every `<other>.*` key deleted, so that revert
/// refuses (Nerves also wipes the other slot's data; the firmware service does
/// that where a slot device is configured).
kv_changes prevent_revert_changes(const kv_map& kv);

/// Deletes every `<slot>.*` key: what an install writes first, before the
/// first byte of the new image reaches the slot.
kv_changes forget_slot_changes(const kv_map& kv, const std::string& slot);

struct firmware_manifest;

/// What an install writes: `slot` becomes active with `m` as its firmware
/// (`<slot>.nerves_fw_*`, empty fields deleted), unvalidated
/// (`nerves_fw_validated=0`, and `<slot>.nerves_fw_validated=0` when that key
/// exists), plus `upgrade_available=1`, `bootcount=0` under the U-Boot
/// bootcount scheme. Errors: unknown_slot.
caf::expected<kv_changes> install_changes(const kv_map& kv, const firmware_manifest& m,
                                          const std::string& slot);

}  // namespace myelin::runtime
