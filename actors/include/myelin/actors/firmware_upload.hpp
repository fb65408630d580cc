// Firmware installation from a streamed `.fw` upload: verify, forget the
// inactive slot's metadata, write the slot, then ask the firmware service to
// switch slots in one KV write (it tells the overlays service). Refused while
// the running firmware is unvalidated: the inactive slot is then its fallback.
//
// Owned by the firmware service (fw_upload_session_atom), fed by the control
// channel (POST /v1/fw/upload, GET /v1/fw/upload/status;
// actors/src/firmware/console_firmware.cpp). One upload runs at a time. The body flows
// HTTP thread -> bounded buffer (firmware.upload_buffer_mb) -> an installer
// thread that reads the archive (runtime::tar_reader), checks the manifest's
// signature against firmware.trusted_keys and its platform/architecture
// against the device's, deletes the slot's `<slot>.*` metadata (so a torn
// slot is never chosen, decision 0074) before the first byte reaches the slot, hashes while
// writing the rootfs image into the inactive slot, syncs it, and only then
// asks the firmware service to switch (fw_switch_atom): one atomic KV write
// of the slot's metadata (`<slot>.nerves_fw_*`, the image's hash and size) and the switch
// (`nerves_fw_active`, `nerves_fw_validated=0`, or
// `upgrade_available=1`/`bootcount=0` under the U-Boot bootcount scheme;
// runtime::install_changes), after which it tells the overlays service. Any
// failure leaves the KV and the running slot untouched (the inactive slot may
// hold a partial image, which nothing points at).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_manifest.hpp"
#include "myelin/runtime/kv/kv_backend.hpp"
#include "myelin/runtime/platform/signing.hpp"

namespace myelin::actors {

/// Errors of an upload that are about the device's state, not the file
/// (HTTP 409).
enum class firmware_upload_errc : uint8_t {
  /// Another upload is in progress.
  busy = 1,
  /// The active slot changed while the image was written (e.g. a revert).
  slot_changed,
};

std::string to_string(firmware_upload_errc x);

caf::error make_error(firmware_upload_errc x, std::string context);

/// Where firmware goes and what this device accepts (the [firmware] config).
struct firmware_upload_options {
  /// The device's own platform and architecture; a firmware for anything else
  /// is refused.
  std::string platform;
  std::string architecture;
  /// Keys a firmware's manifest must be signed by (none: every upload is refused).
  std::vector<runtime::public_key> trusted;
  /// Anti-rollback (firmware.allow_downgrade, firmware.allow_other_products):
  /// off, a firmware older than the running one, or another product's, is
  /// refused before a byte reaches the slot.
  bool allow_downgrade = false;
  bool allow_other_products = false;
  /// Block devices or files of slots a and b.
  std::string slot_a;
  std::string slot_b;
  /// Created before a slot is written when not empty (where the host-mode
  /// default slot files live).
  std::string slot_dir;
  /// Capacity of a slot that is a regular file (block devices: their size).
  uint64_t file_slot_size = 0;
  /// Bytes buffered between the network and the slot.
  size_t buffer_bytes = 8u << 20;
};

/// Why anti-rollback refuses the firmware of signed manifest `m` on a device
/// whose store is `kv` and running slot `active` (empty: it may install).
std::string rollback_refusal(const runtime::firmware_manifest& m, const runtime::kv_map& kv,
                             const std::string& active, const firmware_upload_options& opts);

/// Reads the [firmware] section. Host mode defaults: slots are
/// `<state>/firmware/slot-a.img` and `slot-b.img`. A malformed trusted key is
/// logged and left out, so the device still boots (decision 0004); firmware
/// signed with it is refused. No errors today: the expected<> leaves room for
/// checks that must stop the boot.
caf::expected<firmware_upload_options> firmware_upload_options_from(const runtime::config& cfg,
                                                                    const std::string& state_dir);

/// What GET /v1/fw/upload/status shows.
struct firmware_upload_progress {
  /// idle, receiving, switching, done, failed.
  std::string state = "idle";
  uint64_t bytes = 0;
  /// 0 when unknown (no size header).
  uint64_t total = 0;
  uint64_t written = 0;
  std::string slot;
  std::string version;
  std::string error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, firmware_upload_progress& x) {
  return f(caf::meta::type_name("firmware_upload_progress"), x.state, x.bytes, x.total, x.written,
           x.slot, x.version, x.error);
}

/// How an upload ended.
struct firmware_upload_outcome {
  /// Why it failed (none: installed): fwfile (the file), fwupload (busy, slot
  /// changed), firmware, kv. The control channel maps it to an HTTP status.
  caf::error error;
  std::string slot;
  runtime::firmware_manifest manifest;
};

/// Hands the request body to `sink` chunk by chunk; false if the body could
/// not be read completely (connection dropped, timeout).
using body_reader = std::function<bool(const std::function<bool(const char*, size_t)>& sink)>;

/// Pulls the request body: copies up to `cap` bytes into `dst` and returns
/// how many; 0 at the end of the body; -1 when it cannot be read, with the
/// reason in `why` (connection dropped, timeout, malformed framing).
using body_source = std::function<long(char* dst, size_t cap, std::string& why)>;

namespace detail {
class byte_pipe;
}

/// Runs uploads, one at a time, and remembers the progress of the last one.
class firmware_upload {
 public:
  firmware_upload(caf::actor_system& sys, firmware_upload_options opts);

  /// Installs the firmware read by `read_body` (blocking, on the caller's
  /// thread plus one installer thread). `total` is the body size if known.
  /// Refused while the running firmware is unvalidated (the other slot is
  /// its fallback) unless `force`.
  firmware_upload_outcome run(const body_reader& read_body, uint64_t total, bool force = false);

  /// The same, pulling the body from `source` straight into the buffer
  /// (no copy on the way).
  firmware_upload_outcome run(const body_source& source, uint64_t total, bool force = false);

  firmware_upload_progress progress() const;

 private:
  /// Moves the body into the pipe (nullptr: reads and drops it), reporting
  /// the bytes received; true if all of it arrived, else `why` may say why.
  using body_feed = std::function<bool(
      detail::byte_pipe* pipe, const std::function<void(size_t)>& progress, std::string& why)>;

  firmware_upload_outcome run_feed(const body_feed& feed, uint64_t total, bool force);
  caf::error install(const body_feed& feed, bool force, firmware_upload_outcome& out);
  void set(const std::function<void(firmware_upload_progress&)>& fn);

  caf::actor_system& sys_;
  firmware_upload_options opts_;
  std::atomic<bool> busy_{false};
  mutable std::mutex mtx_;
  firmware_upload_progress progress_;
};

}  // namespace myelin::actors
