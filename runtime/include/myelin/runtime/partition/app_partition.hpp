// Where myelin's writable state lives: the interface of the application
// partition, its status, and the choice between the real and the host one.
//
// Implementations (the house rule: OS access only through runtime/ interfaces
// with a real and a host implementation):
//  - make_mounted_partition (src/mounted_partition.cpp): a block device
//    mounted with libmount, remounted read-write or reformatted when it cannot
//    be mounted read-write, as Nerves does; erased by wiping its superblock.
//  - make_directory_partition (src/directory_partition.cpp): host mode, a
//    plain directory; nothing is mounted.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "myelin/runtime/partition/mount_table.hpp"

namespace myelin::runtime {

class config;

/// What preparing the partition did.
enum class partition_outcome : uint8_t {
  /// Not prepared yet.
  pending,
  /// Host mode: a plain directory, nothing mounted.
  directory,
  /// It was not mounted; it is now, read-write.
  mounted,
  /// It was already mounted read-write at its target; left alone.
  already_mounted,
  /// It was mounted read-only; it was remounted read-write.
  remounted_rw,
  /// It could not be mounted read-write, so it was formatted and mounted.
  formatted,
  /// It could not be made available; see fallback.
  unavailable,
};

std::string to_string(partition_outcome x);

/// The state of the partition, for the boot log, GET /v1/app-partition and
/// `myelin status`.
struct partition_status {
  /// "mount" (a device) or "directory" (host mode).
  std::string kind;
  std::string device;
  std::string target;
  std::string fstype;
  partition_outcome outcome = partition_outcome::pending;
  /// Why it was formatted, or why it is unavailable; for `mounted`, a note
  /// when app_partition.options were refused and left out (empty otherwise).
  std::string reason;
  /// When unavailable: what holds the state instead, e.g. "tmpfs" (lost at
  /// power off), or "root file system" when even that failed.
  std::string fallback;
  /// The mount as mountinfo shows it after preparing (empty source if none).
  mount_entry mount;
  /// Whether the state directory is on durable storage.
  bool durable = false;
  /// True once a factory reset erased the partition (this boot).
  bool erased = false;

  /// One line for the boot log: "mounted /dev/mmcblk0p4 (ext4) on /root",
  /// "formatted because: ...", "unavailable: ...; state on tmpfs ...".
  std::string summary() const;
};

/// The application partition. Thread-safe: status() is read by the control
/// channel's threads while the firmware service may erase().
class app_partition {
 public:
  virtual ~app_partition() = default;

  /// Makes the state storage available (mount, remount, format, or fallback)
  /// and returns what happened. Never throws; failures are in the status.
  virtual partition_status prepare() = 0;

  /// Factory reset: erases the partition so that the next boot starts empty
  /// (the real one wipes the superblock, so the next boot reformats it).
  /// Error erase_failed with the reason.
  virtual caf::error erase() = 0;

  /// The status as of the last prepare() / erase().
  virtual partition_status status() const = 0;
};

/// Options of the real implementation.
struct mounted_partition_options {
  /// The block device, e.g. /dev/mmcblk0p4 or /dev/disk/by-label/APPDATA.
  std::string device;
  /// Where it is mounted.
  std::string target;
  /// ext4, vfat or f2fs.
  std::string fstype = "ext4";
  /// Extra mount options (comma-separated); "rw" is always added.
  std::string options;
  /// Extra mkfs arguments, split at white space.
  std::string mkfs_options;
  /// Where mkfs.<type> is looked for; empty: $PATH, then /sbin, /usr/sbin,
  /// /bin, /usr/bin.
  std::vector<std::string> mkfs_dirs;
  /// Time limit of one mkfs run.
  std::chrono::milliseconds mkfs_timeout{std::chrono::minutes{5}};
  /// When the partition is unavailable, mount a tmpfs at the target so that
  /// the state directory still works (volatile) this boot.
  bool tmpfs_fallback = true;
  /// An I/O error on mounting is retried this often, this far apart, before
  /// the partition counts as unavailable (never formatted for it).
  int io_retries = 3;
  std::chrono::milliseconds io_retry_delay{500};
  /// The mount table to read (tests may point elsewhere).
  std::string mountinfo = "/proc/self/mountinfo";
};

/// The file system types that can be formatted: ext4, vfat, f2fs.
const std::vector<std::string>& known_partition_fstypes();

/// Checks the options: a device, an absolute target other than "/", a known
/// file system type. Error bad_config naming the key.
caf::error check_partition_options(const mounted_partition_options& opts);

/// The real implementation on libmount.
std::shared_ptr<app_partition> make_mounted_partition(mounted_partition_options opts);

/// The host implementation: `dir` is a plain directory.
std::shared_ptr<app_partition> make_directory_partition(std::string dir);

/// The partition [app_partition] configures: the real one when
/// app_partition.enabled, otherwise the host one on `state_dir`.
std::shared_ptr<app_partition> make_app_partition(const config& cfg, const std::string& state_dir);

}  // namespace myelin::runtime
