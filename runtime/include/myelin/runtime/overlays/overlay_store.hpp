// The overlay store: partial app trees pushed on top of the firmware's base
// apps, stacked, resolved newest -> oldest, applied transactionally.
//
// Layout (see docs/pushing.md):
//   <state>/overlays/<seq>-<hash>/      a persistent overlay: manifest, signature, files/<app>/...
//   <volatile>/<seq>-<hash>/            a volatile overlay (dev pushes; gone after a reboot)
//   <state>/overlays/stack              the active stack, oldest first, replaced atomically
//   <state>/overlays/last-good          the last stack that ran cleanly
//   <volatile>/views/<app>-<hash>/      symlinks to an app's resolved files: the directory an
//                                       overlaid app is loaded from (unique per version)
// <volatile> is /run/myelin/overlays on a device, <state>/run/overlays in host mode.
//
// The overlay bundle (what `myelin push` sends), byte for byte:
//   "myelin-overlay 1\n"
//   "manifest <N>\n" + N bytes of manifest text
//   "signature <base64 | none>\n"     ed25519 over exactly the N manifest bytes
//   the contents of every `file` of the manifest, in manifest order, back to back
// The manifest text:
//   "myelin-overlay-manifest 1\n"
//   "app <name>\n"                    one or more: the apps the overlay touches
//   "persist\n"                       optional: keep it across reboots
//   "firmware <uuid>\n"               optional: the nerves_fw_uuid it was made for
//   "sequence <n>\n"                  optional: 1.., above every overlay applied before
//   "file <sha256-hex> <size> <mode-octal> <app>/<path>\n"
//   "whiteout <app>/<path>\n"
// Paths: relative, '/'-separated, no empty, "." or ".." component, no
// whitespace or control characters, under one of the manifest's apps.
//
// Thread-safe: every member function takes the store's lock.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "myelin/runtime/platform/signing.hpp"

namespace myelin::runtime {

/// Errors of the overlay store; the error context says more.
enum class overlay_errc : uint8_t {
  /// The bundle or manifest is malformed or truncated.
  bad_format = 1,
  /// No signature where one is required, a malformed one, or none of the
  /// trusted keys verifies it.
  bad_signature,
  /// A file's contents do not match its manifest hash or size.
  hash_mismatch,
  /// The bundle is larger than the configured limit.
  too_large,
  /// A path is absolute, has "..", or would leave its app's directory.
  bad_path,
  /// An app the device does not know.
  unknown_app,
  /// Reading or writing the store failed (disk full, permissions); nothing changed.
  io_error,
  /// There is no last-good stack to roll back to.
  no_last_good,
  /// An app's app.toml (its own defaults) is malformed, too large or sets an
  /// unknown key or a bad value.
  bad_settings,
  /// The device runs without overlays (its store could not be opened).
  unavailable,
  /// A signed overlay made for other firmware, or not newer than the last
  /// one applied (a replay), or without the binding (anti-rollback).
  stale,
};

/// The file beside an app's module that holds the app's own defaults
/// (runtime::parse_app_defaults).
inline constexpr const char* app_defaults_file = "app.toml";

std::string to_string(overlay_errc x);

caf::error make_error(overlay_errc x, std::string context);

/// One file of an overlay manifest.
struct overlay_file {
  /// "<app>/<path inside the app>".
  std::string path;
  std::string sha256;
  uint64_t size = 0;
  /// Permission bits only (e.g. 0644, 0755).
  uint32_t mode = 0644;
};

/// What an overlay contains.
struct overlay_manifest {
  std::vector<std::string> apps;
  bool persist = false;
  /// The running firmware's nerves_fw_uuid when it was made (empty: none).
  std::string firmware;
  /// Above the sequence of every overlay the device applied before (0: none).
  uint64_t sequence = 0;
  std::vector<overlay_file> files;
  /// "<app>/<path>" of files the overlay deletes.
  std::vector<std::string> whiteouts;
};

/// The manifest's canonical text (what is signed).
std::string format_manifest(const overlay_manifest& m);

/// Parses and checks a manifest (format, paths, hashes' form, duplicates).
/// Errors: bad_format, bad_path.
caf::expected<overlay_manifest> parse_manifest(std::string_view text);

/// Checks one "<app>/<path>". Errors: bad_path.
caf::error check_overlay_path(std::string_view path);

/// Builds a bundle from a manifest and the contents of its files (in manifest
/// order), signed with `key` when given.
std::string make_bundle(const overlay_manifest& m, const std::vector<std::string>& contents,
                        const secret_key* key);

/// One file of an app's resolved tree.
struct resolved_file {
  /// Where its contents are now (base dir or an overlay's files/).
  std::string source;
  std::string sha256;
  uint64_t size = 0;
  uint32_t mode = 0644;
  /// The overlay it comes from ("<seq>-<hash>"), empty for the base.
  std::string overlay;
};

/// path inside the app -> file.
using app_tree = std::map<std::string, resolved_file>;

/// The SHA-256 over the sorted (path, file hash) pairs of a tree.
std::string app_hash_of(const std::map<std::string, std::string>& path_hashes);

/// What must be sent to turn the device's tree into the local one.
struct tree_diff {
  /// Paths whose hash differs or that the device does not have.
  std::vector<std::string> changed;
  /// Paths the device has and the local tree does not.
  std::vector<std::string> whiteouts;
};

/// Both maps: path inside the app -> SHA-256.
tree_diff diff_trees(const std::map<std::string, std::string>& local,
                     const std::map<std::string, std::string>& device);

/// An app's install tree on the host: every regular file under `dir`
/// (recursively), as path inside the app -> file (source, hash, size, mode).
/// Symlinks are followed only while they stay inside `dir`.
/// Errors: bad_path (a symlink leading out, a name an overlay cannot carry),
/// io_error.
caf::expected<app_tree> scan_app_dir(const std::string& dir);

struct overlay_store_options {
  /// The firmware's apps: <base_dir>/<app>/... (apphost.base_dir).
  std::string base_dir;
  /// Persistent overlays, the stack and last-good (<state>/overlays).
  std::string persistent_dir;
  /// Volatile overlays and app views.
  std::string volatile_dir;
  std::vector<public_key> trusted_keys;
  /// Accept bundles with "signature none" (host mode only).
  bool allow_unsigned = false;
  /// Signed bundles must name the running firmware (set_running_firmware)
  /// and a sequence above the last applied (overlays.allow_replay = false).
  bool require_binding = false;
  /// Compact when the stack grows past this many overlays.
  size_t max_depth = 8;
  /// The largest bundle accepted.
  uint64_t max_bytes = 64ull << 20;
  /// The apps of the device's config (apps.<name>); overlays may touch them.
  std::set<std::string> known_apps;
  /// Accept overlays that bring apps not in known_apps (their tree must hold
  /// lib<app>.so, and the name must be a letter, then letters, digits or _).
  bool allow_new_apps = false;
  /// Test hook: SIGKILL the process at this numbered point of apply (1-12) or
  /// compaction (21-25); 0: never.
  int crash_at = 0;
};

/// An entry of the stack.
struct stack_entry {
  /// "<seq>-<hash>".
  std::string name;
  bool persistent = false;
};

/// Overlays set aside for the firmware they were made for (issue 19): kept,
/// inactive, while another firmware runs unvalidated; made the stack again if
/// that firmware reverts to theirs; dropped once it is validated.
struct set_aside_overlays {
  /// The slot of the firmware they were made for, and its nerves_fw_uuid then
  /// (empty if it had none): restored only onto that same firmware.
  std::string slot;
  std::string uuid;
  /// Their stack and last-good (a volatile overlay among them is kept while
  /// its directory lasts: on a device it goes with the reboot).
  std::vector<stack_entry> stack;
  std::vector<stack_entry> last_good;
};

/// The result of apply / rollback.
struct overlay_change {
  /// The overlay applied (empty for a rollback).
  std::string overlay;
  /// app -> {hash before, hash after}, only apps whose resolved tree changed.
  std::map<std::string, std::pair<std::string, std::string>> changed_apps;
};

class overlay_store {
 public:
  /// Opens the store, creating its directories, and recovers from an
  /// interrupted apply: leftover temporary files are removed, a stack naming
  /// a missing persistent overlay falls back to last-good (missing volatile
  /// ones were lost with a reboot and are dropped), unreferenced overlays are
  /// removed. Errors: io_error.
  static caf::expected<std::unique_ptr<overlay_store>> open(overlay_store_options opts);

  ~overlay_store();

  const overlay_store_options& options() const { return opts_; }

  /// Where `path` of `app` resolves: the newest overlay that has it, nothing
  /// if the newest mention is a whiteout, else the base dir (if it exists there).
  std::optional<std::string> resolve(const std::string& app, const std::string& path) const;

  /// The app's resolved tree. Errors: io_error (an unreadable base file).
  caf::expected<app_tree> tree(const std::string& app) const;

  /// path -> SHA-256 of the app's resolved tree.
  caf::expected<std::map<std::string, std::string>> file_hashes(const std::string& app) const;

  /// The app's hash (app_hash_of its file hashes).
  caf::expected<std::string> app_hash(const std::string& app) const;

  /// The module an app is started from: <base>/<app>/lib<app>.so when no
  /// overlay touches the app, else lib<app>.so in the app's view directory
  /// (made on demand), a path unique to this version. nullopt if the
  /// resolved tree has no module.
  std::optional<std::string> module_path(const std::string& app) const;

  /// Verifies a bundle completely (format, size, signature, paths, apps,
  /// every file's hash), then writes it and makes it the top of the stack.
  /// Any error leaves the store as it was.
  caf::expected<overlay_change> apply(std::string_view bundle);

  /// Records the current stack as last-good. Errors: io_error.
  caf::error mark_good();

  /// The nerves_fw_uuid of the firmware running now (what signed overlays
  /// must name when require_binding).
  void set_running_firmware(std::string uuid);
  std::string running_firmware() const;

  /// The highest sequence of a signed overlay applied on this device (0: none).
  uint64_t last_sequence() const;

  /// Makes last-good the stack again. Errors: no_last_good, io_error.
  caf::expected<overlay_change> rollback();

  /// Merges runs of overlays of the same kind into one overlay each (every
  /// resolution stays the same). Runs on its own after apply past max_depth.
  caf::error compact();

  /// Removes every overlay, the stack and last-good.
  caf::error clear();

  std::vector<stack_entry> stack() const;
  std::vector<stack_entry> last_good() const;

  /// Sets the stack's and last-good's overlays aside for the
  /// firmware in `slot` (with `uuid`), durably, then empties the stack and
  /// last-good. When overlays are set aside for `slot` already (an earlier,
  /// interrupted call) they stay, and only the stack is emptied. Errors:
  /// io_error (nothing changed).
  caf::error set_aside(const std::string& slot, const std::string& uuid);

  /// Makes the set-aside overlays the stack and last-good again and forgets
  /// them; what the stack held is dropped. Errors: no_last_good (nothing is
  /// set aside), io_error.
  caf::error restore_aside();

  /// Forgets the set-aside overlays and removes them. Errors: io_error.
  caf::error drop_aside();

  /// What is set aside, if anything.
  std::optional<set_aside_overlays> aside() const;

  /// The device's apps: the configured ones, and those that overlays brought
  /// (new apps whose resolved tree is not empty).
  std::set<std::string> apps() const;

  /// Whether `app` exists only through overlays (pushed, not in the config).
  bool pushed(const std::string& app) const;

 private:
  struct loaded;
  explicit overlay_store(overlay_store_options opts);

  caf::error load_stack(const std::vector<stack_entry>& entries, std::vector<loaded>& out) const;
  caf::expected<app_tree> tree_locked(const std::string& app) const;
  /// Refuses an overlay that would leave a pushed app without its module or
  /// brings a bad app.toml; `contents` are the manifest's files' bytes.
  caf::error check_app_result(const std::string& app, const app_tree& now,
                              const overlay_manifest& manifest,
                              const std::vector<std::string_view>& contents) const;
  caf::error write_stack_file(const std::string& file, const std::vector<stack_entry>& entries);
  caf::error set_stack(std::vector<stack_entry> entries, bool also_last_good);
  caf::error compact_locked();
  /// Deletes the aside file, forgets it and collects its overlays.
  caf::error forget_aside_locked();
  void collect_garbage();
  std::string dir_of(const stack_entry& e) const;
  void crash_point(int n) const;

  overlay_store_options opts_;
  mutable std::mutex mtx_;
  std::vector<stack_entry> stack_;
  std::vector<stack_entry> last_good_;
  std::vector<loaded> overlays_;
  std::optional<set_aside_overlays> aside_;
  std::string running_uuid_;
  uint64_t last_sequence_ = 0;
  /// Hashes of base files: path -> (size, mtime ns, hash).
  mutable std::map<std::string, std::tuple<uint64_t, int64_t, std::string>> hash_cache_;
};

/// Removes every overlay (persistent and volatile), the stack and last-good
/// of a store with these options, without opening it. For the firmware
/// service: call it when a new firmware becomes active.
caf::error clear_overlays(const overlay_store_options& opts);

}  // namespace myelin::runtime
