// The kernel's table of mounts (/proc/self/mountinfo), read with libmount:
// what is mounted where, found by target or by source device.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Errors of mounting and of the application partition; the context says more.
enum class mount_errc : uint8_t {
  /// The mount table could not be read (file missing, unreadable).
  unreadable_table = 1,
  /// The configuration cannot work (no device, unknown file system type, bad target).
  bad_config,
  /// mount(2) failed in a way a fresh file system may fix (bad superblock, ...).
  mount_failed,
  /// Mounting was refused for a reason formatting cannot fix (no permission,
  /// no such device, device busy, type unknown to the kernel, read-only medium).
  mount_refused,
  /// A remount read-write failed.
  remount_failed,
  /// An unmount failed.
  unmount_failed,
  /// No mkfs program for the file system type was found.
  mkfs_missing,
  /// mkfs ran and failed (or ran out of time); the context holds its output.
  format_failed,
  /// Erasing the partition (factory reset) failed.
  erase_failed,
};

std::string to_string(mount_errc x);

caf::error make_error(mount_errc x, std::string context);

/// One line of mountinfo.
struct mount_entry {
  int id = 0;
  int parent_id = 0;
  /// major:minor of the mounted device (0:N for virtual file systems).
  dev_t devno = 0;
  /// The path inside the file system that is mounted ("/" unless a bind mount).
  std::string root;
  /// Where it is mounted (unescaped: "\040" is a space).
  std::string target;
  /// What is mounted: a device path, or a name such as "tmpfs".
  std::string source;
  std::string fstype;
  /// Per-mount options ("rw,noatime").
  std::string vfs_options;
  /// Super block options ("rw,errors=remount-ro").
  std::string fs_options;
  /// True when the mount or its super block is read-only.
  bool read_only = false;
};

/// A snapshot of the mount table. Cheap to copy; never changes after load.
class mount_table {
 public:
  /// Reads a mountinfo file (default: this process's). Lines libmount cannot
  /// parse are skipped and counted in bad_lines(). Error unreadable_table when
  /// the file cannot be read.
  static caf::expected<mount_table> load(const std::string& path = "/proc/self/mountinfo");

  /// All mounts in the file's order (parents before the mounts on top of them).
  const std::vector<mount_entry>& entries() const { return entries_; }

  /// Lines that were skipped as malformed.
  size_t bad_lines() const { return bad_lines_; }

  /// The mount visible at `target` (the last one mounted there), if any.
  /// `target` is compared after resolving symlinks and "..", and without a
  /// trailing slash.
  std::optional<mount_entry> find_by_target(const std::string& target) const;

  /// Every mount of `device`: the same path, the same path after resolving
  /// symlinks (/dev/disk/by-label/..., /dev/disk/by-partuuid/...), or, for a
  /// block device that exists, the same major:minor (which also finds
  /// "/dev/root"). In mount order.
  std::vector<mount_entry> find_by_source(const std::string& device) const;

 private:
  std::vector<mount_entry> entries_;
  size_t bad_lines_ = 0;
};

/// `path` with symlinks and ".." resolved as far as it exists, without a
/// trailing slash; `path` itself, normalised, when nothing of it exists.
std::string resolve_path(const std::string& path);

}  // namespace myelin::runtime
