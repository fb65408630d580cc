// Formats a block device with the mkfs program of its file system type,
// run by pid under a time limit with its output captured for the error.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/error.hpp>

namespace myelin::runtime {

struct format_request {
  std::string device;
  /// ext4 (mkfs.ext4 -F -q), vfat (mkfs.vfat), f2fs (mkfs.f2fs -f -q).
  std::string fstype;
  /// Extra arguments, split at white space.
  std::string mkfs_options;
  /// Directories to look for mkfs.<type> in; empty: $PATH, /sbin, /usr/sbin, /bin, /usr/bin.
  std::vector<std::string> dirs;
  std::chrono::milliseconds timeout{std::chrono::minutes{5}};
};

/// The mkfs program for `fstype` in `dirs` (see format_request), or empty.
std::string find_mkfs(const std::string& fstype, const std::vector<std::string>& dirs);

/// Runs mkfs. Errors: mkfs_missing (no program), bad_config (unknown type),
/// format_failed (exit status, signal or time limit, with the last lines of
/// its output).
caf::error format_device(const format_request& req);

}  // namespace myelin::runtime
