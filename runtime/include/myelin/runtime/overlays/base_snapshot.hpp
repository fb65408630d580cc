// A snapshot of the firmware's base apps, for host mode: what runs is what was
// there at boot, never what a rebuild wrote since (decision 0072).
#pragma once

#include <set>
#include <string>

#include <caf/expected.hpp>

namespace myelin::runtime {

/// Copies each app's install tree `<from>/<app>/` (the apps in `apps` that
/// have one) into a fresh `<to>/<app>/`, as a read-only root fs would hold
/// them, and returns `to`. The copy is made beside `to` and renamed into
/// place, so `to` is the old snapshot or the new one, never a mix; an older
/// snapshot is removed. Symlinks are copied as the files they lead to.
/// Errors: overlay_errc::io_error naming the path (nothing replaced).
caf::expected<std::string> snapshot_base_apps(const std::string& from, const std::string& to,
                                              const std::set<std::string>& apps);

}  // namespace myelin::runtime
