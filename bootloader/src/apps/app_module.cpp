// Which module an app is started from: the overlay store's resolution.
#include "apps/app_module.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

namespace myelin::bootloader {

void resolve_module(const apps_options& opts, const apps_options::app& app, std::string& module,
                    std::string& hash) {
  namespace fs = std::filesystem;
  hash.clear();
  if (!opts.overlays) {
    return;
  }
  const auto& store = *opts.overlays;
  auto base_module = fs::path{store.options().base_dir} / app.name / ("lib" + app.name + ".so");
  if (fs::path{module}.lexically_normal() != base_module.lexically_normal()) {
    // An explicitly configured module is not overlaid.
    return;
  }
  if (auto path = store.module_path(app.name)) {
    module = *path;
  } else {
    // Whited out by an overlay: the base module must not come back through
    // the back door. The start fails with "module ... not found".
    spdlog::warn("app {}: its resolved tree has no lib{}.so", app.name, app.name);
    module = store.options().volatile_dir + "/views/" + app.name + "-none/lib" + app.name + ".so";
  }
  if (auto h = store.app_hash(app.name)) {
    hash = *h;
  }
}

}  // namespace myelin::bootloader
