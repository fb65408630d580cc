// The overlay store's options from config, and opening it for myelin-boot.
#include "myelin/actors/overlays.hpp"

#include <filesystem>

#include <spdlog/spdlog.h>

namespace myelin::actors {

caf::expected<runtime::overlay_store_options> overlay_options_from(const runtime::config& cfg,
                                                                   const std::string& state_dir) {
  namespace fs = std::filesystem;
  runtime::overlay_store_options o;
  std::error_code ec;
  o.base_dir = fs::absolute(cfg.get_string("apphost.base_dir"), ec).lexically_normal().string();
  if (!o.base_dir.empty() && o.base_dir.back() == '/') {
    o.base_dir.pop_back();
  }
  o.persistent_dir = (fs::path{state_dir} / "overlays").string();
  fs::path vol = cfg.get_string("overlays.volatile_dir");
  o.volatile_dir = (vol.is_absolute() ? vol : fs::path{state_dir} / vol).string();
  for (const auto& text : cfg.get_list("overlays.trusted_keys")) {
    auto key = runtime::parse_public_key(text);
    if (!key) {
      return runtime::make_error(
          runtime::config_errc::invalid_value,
          "overlays.trusted_keys: '" + text +
              "' is not a public key (\"ed25519:<base64>\", as in NAME.pub)");
    }
    o.trusted_keys.push_back(*key);
  }
  o.allow_unsigned = cfg.get_bool("overlays.allow_unsigned");
  o.require_binding = !cfg.get_bool("overlays.allow_replay");
  o.allow_new_apps = cfg.get_bool("overlays.allow_new_apps");
  o.max_bytes = static_cast<uint64_t>(cfg.get_int("overlays.max_bytes"));
  o.max_depth = static_cast<size_t>(cfg.get_int("overlays.max_depth"));
  for (const auto& name : cfg.table_names("apps")) {
    o.known_apps.insert(name);
  }
  // A test hook: myelin-boot clears [testing] as a device's PID 1 (decision 0075).
  o.crash_at = static_cast<int>(cfg.get_int("testing.overlay_crash_at"));
  return o;
}

caf::expected<overlay_service_options> open_overlay_service(const runtime::config& cfg,
                                                            const std::string& state_dir) {
  auto opts = overlay_options_from(cfg, state_dir);
  if (!opts) {
    return opts.error();
  }
  overlay_service_options out;
  out.persistent_dir = opts->persistent_dir;
  auto store = runtime::overlay_store::open(std::move(*opts));
  if (store) {
    out.store = std::shared_ptr<runtime::overlay_store>{std::move(*store)};
  } else {
    // The base apps still run; only pushing is off.
    spdlog::error("overlays: {}; running the base apps without overlays",
                  runtime::describe(store.error()));
  }
  out.probation = std::chrono::seconds{cfg.get_int("overlays.probation_s")};
  out.start_timeout = std::chrono::milliseconds{cfg.get_int("overlays.start_timeout_ms")};
  return out;
}

}  // namespace myelin::actors
