// The devices in sysfs: coldplug (ask the kernel to resend "add" for every
// device) and a scan of their current properties (a re-sync after lost uevents).
#pragma once

#include <cstddef>
#include <map>
#include <string>

#include "myelin/runtime/uevent/uevent_table.hpp"

namespace myelin::runtime {

/// What coldplug did.
struct coldplug_result {
  /// uevent files written.
  size_t written = 0;
  /// uevent files that could not be written (the first reason in `error`).
  size_t failed = 0;
  std::string error;
};

/// Writes "add" into every `<sysfs>/devices/**/uevent` (symbolic links are not
/// followed below the root), so that the kernel sends an add event for every
/// device present at boot, as udev's `udevadm trigger` does. Never throws.
coldplug_result coldplug(const std::string& sysfs);

/// The current properties of every device under `<sysfs>/devices`, keyed as
/// uevent_table keys them: the lines of each device's uevent file (lowercase
/// keys) plus `subsystem` from its subsystem link. The devpath is the
/// directory's resolved path from its first `devices` segment on. Unreadable
/// directories are skipped. Never throws.
std::map<uevent_table::key, uevent_properties> scan_devices(const std::string& sysfs);

}  // namespace myelin::runtime
