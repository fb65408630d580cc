// Copying the base apps into the state directory (host mode, decision 0072).
#include "myelin/runtime/overlays/base_snapshot.hpp"

#include <unistd.h>

#include <filesystem>

#include "myelin/runtime/overlays/overlay_store.hpp"

namespace myelin::runtime {

namespace {

namespace fs = std::filesystem;

void remove_quietly(const fs::path& p) {
  std::error_code ec;
  fs::remove_all(p, ec);
}

}  // namespace

caf::expected<std::string> snapshot_base_apps(const std::string& from, const std::string& to,
                                              const std::set<std::string>& apps) {
  const auto pid = std::to_string(::getpid());
  fs::path target{to};
  auto tmp = target.parent_path() / ("." + target.filename().string() + ".tmp-" + pid);
  auto old = target.parent_path() / ("." + target.filename().string() + ".old-" + pid);
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  remove_quietly(tmp);
  if (!fs::create_directory(tmp, ec) || ec) {
    return make_error(overlay_errc::io_error,
                      tmp.string() + ": " + (ec ? ec.message() : "cannot create"));
  }
  for (const auto& app : apps) {
    auto src = fs::path{from} / app;
    if (!fs::is_directory(src, ec)) {
      continue;
    }
    fs::copy(src, tmp / app, fs::copy_options::recursive, ec);
    if (ec) {
      remove_quietly(tmp);
      return make_error(overlay_errc::io_error, "copying " + src.string() + " to " +
                                                    (tmp / app).string() + ": " + ec.message());
    }
  }
  if (fs::exists(target, ec)) {
    remove_quietly(old);
    fs::rename(target, old, ec);
    if (ec) {
      remove_quietly(tmp);
      return make_error(overlay_errc::io_error, "rename " + target.string() + ": " + ec.message());
    }
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    remove_quietly(tmp);
    return make_error(overlay_errc::io_error, "rename " + tmp.string() + ": " + ec.message());
  }
  remove_quietly(old);
  return target.string();
}

}  // namespace myelin::runtime
