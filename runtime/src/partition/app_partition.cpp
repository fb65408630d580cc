// The application partition: status texts, option checks, and the choice
// between the real (mounted) and the host (directory) implementation.
#include "myelin/runtime/partition/app_partition.hpp"

#include <algorithm>

#include "myelin/runtime/config/config.hpp"

namespace myelin::runtime {

std::string to_string(partition_outcome x) {
  switch (x) {
    case partition_outcome::pending:
      return "pending";
    case partition_outcome::directory:
      return "directory";
    case partition_outcome::mounted:
      return "mounted";
    case partition_outcome::already_mounted:
      return "already_mounted";
    case partition_outcome::remounted_rw:
      return "remounted_rw";
    case partition_outcome::formatted:
      return "formatted";
    case partition_outcome::unavailable:
      return "unavailable";
  }
  return "unknown";
}

std::string partition_status::summary() const {
  auto what = device + " (" + fstype + ") on " + target;
  switch (outcome) {
    case partition_outcome::pending:
      return "not prepared yet";
    case partition_outcome::directory:
      return "plain directory " + target + " (host mode, nothing mounted)";
    case partition_outcome::mounted:
      return "mounted " + what + (reason.empty() ? "" : "; " + reason);
    case partition_outcome::already_mounted:
      return "already mounted read-write: " + what;
    case partition_outcome::remounted_rw:
      return "remounted read-write: " + what;
    case partition_outcome::formatted:
      return "formatted because: " + reason + "; mounted " + what;
    case partition_outcome::unavailable:
      return "UNAVAILABLE: " + reason + "; " +
             (fallback == "tmpfs"
                  ? "state on a tmpfs at " + target + ": everything written is lost at power off"
                  : "state on the " +
                        (fallback.empty() ? std::string{"root file system"} : fallback) + " at " +
                        target);
  }
  return "unknown";
}

const std::vector<std::string>& known_partition_fstypes() {
  static const std::vector<std::string> types = {"ext4", "vfat", "f2fs"};
  return types;
}

caf::error check_partition_options(const mounted_partition_options& opts) {
  if (opts.device.empty()) {
    return make_error(mount_errc::bad_config,
                      "app_partition.device is empty: set the partition's block device, "
                      "e.g. /dev/mmcblk0p4");
  }
  const auto& types = known_partition_fstypes();
  if (std::find(types.begin(), types.end(), opts.fstype) == types.end()) {
    return make_error(mount_errc::bad_config,
                      "app_partition.fstype '" + opts.fstype + "' is not one of ext4, vfat, f2fs");
  }
  if (opts.target.empty() || opts.target.front() != '/') {
    return make_error(mount_errc::bad_config,
                      "app_partition.target '" + opts.target + "' must be an absolute path");
  }
  if (resolve_path(opts.target) == "/") {
    return make_error(mount_errc::bad_config, "app_partition.target must not be /");
  }
  return {};
}

std::shared_ptr<app_partition> make_app_partition(const config& cfg, const std::string& state_dir) {
  if (!cfg.get_bool("app_partition.enabled")) {
    return make_directory_partition(state_dir);
  }
  mounted_partition_options opts;
  opts.device = cfg.get_string("app_partition.device");
  opts.target = cfg.get_string("app_partition.target");
  opts.fstype = cfg.get_string("app_partition.fstype");
  opts.options = cfg.get_string("app_partition.options");
  opts.mkfs_options = cfg.get_string("app_partition.mkfs_options");
  return make_mounted_partition(std::move(opts));
}

}  // namespace myelin::runtime
