// Coldplug and scan of the devices in sysfs.
#include "myelin/runtime/uevent/sysfs_devices.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace myelin::runtime {

namespace fs = std::filesystem;

namespace {

/// Iterates the directories below `root` (not following symbolic links),
/// calling fn(dir) for each that has a regular `uevent` file.
template <class F>
void for_each_device_dir(const fs::path& root, F fn) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return;
  }
  if (fs::is_regular_file(root / "uevent", ec)) {
    fn(root);
  }
  fs::recursive_directory_iterator it{root, fs::directory_options::skip_permission_denied, ec};
  for (; !ec && it != fs::recursive_directory_iterator{}; it.increment(ec)) {
    const auto& entry = *it;
    std::error_code e2;
    if (entry.is_symlink(e2) || !entry.is_directory(e2)) {
      continue;
    }
    if (fs::is_regular_file(entry.path() / "uevent", e2)) {
      fn(entry.path());
    }
  }
}

/// The part of a resolved path before its first `devices` segment.
std::string mount_prefix(const fs::path& resolved) {
  auto text = resolved.generic_string();
  auto pos = text.find("/devices");
  while (pos != std::string::npos) {
    auto end = pos + 8;
    if (end == text.size() || text[end] == '/') {
      return text.substr(0, pos);
    }
    pos = text.find("/devices", end);
  }
  return {};
}

std::string lowercase(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

}  // namespace

coldplug_result coldplug(const std::string& sysfs) {
  coldplug_result r;
  for_each_device_dir(fs::path{sysfs} / "devices", [&r](const fs::path& dir) {
    std::ofstream out{dir / "uevent"};
    out << "add";
    out.flush();
    if (out) {
      ++r.written;
    } else {
      ++r.failed;
      if (r.error.empty()) {
        r.error = (dir / "uevent").string() + ": cannot write";
      }
    }
  });
  return r;
}

std::map<uevent_table::key, uevent_properties> scan_devices(const std::string& sysfs) {
  std::map<uevent_table::key, uevent_properties> out;
  std::error_code ec;
  auto root = fs::canonical(fs::path{sysfs} / "devices", ec);
  if (ec) {
    return out;
  }
  auto prefix = mount_prefix(root);
  auto root_text = root.generic_string();
  if (root_text.size() < prefix.size()) {
    return out;
  }
  for_each_device_dir(root, [&](const fs::path& dir) {
    auto devpath = dir.generic_string().substr(prefix.size());
    if (!valid_devpath(devpath)) {
      return;
    }
    std::ifstream in{dir / "uevent"};
    if (!in) {
      return;
    }
    uevent_properties props;
    std::string line;
    while (std::getline(in, line)) {
      auto eq = line.find('=');
      if (eq == std::string::npos || eq == 0) {
        continue;
      }
      props[lowercase(line.substr(0, eq))] = line.substr(eq + 1);
    }
    std::error_code e2;
    auto subsystem = fs::read_symlink(dir / "subsystem", e2);
    if (!e2) {
      props["subsystem"] = subsystem.filename().string();
    }
    out[devpath_segments(devpath)] = std::move(props);
  });
  return out;
}

}  // namespace myelin::runtime
