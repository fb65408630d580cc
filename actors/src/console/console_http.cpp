// The console's one error -> HTTP status table, and its reply helpers.
#include "console/console_http.hpp"

#include "myelin/actors/apps.hpp"
#include "myelin/actors/firmware_upload.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_archive.hpp"
#include "myelin/runtime/kv/kv_store.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"

namespace myelin::actors {

int http_status_of(const caf::error& err) {
  auto cat = err.category();
  if (cat == caf::atom("kv")) {
    switch (static_cast<runtime::kv_errc>(err.code())) {
      case runtime::kv_errc::invalid_key:
        return 400;
      case runtime::kv_errc::not_found:
        return 404;
      case runtime::kv_errc::too_large:
        return 507;
      case runtime::kv_errc::unreadable:
      case runtime::kv_errc::bad_config:
        return 503;
      case runtime::kv_errc::write_failed:
        return 500;
    }
  }
  if (cat == caf::atom("watchdog")) {
    // No watchdog open to act on.
    return 409;
  }
  if (cat == caf::atom("firmware") || cat == caf::atom("fwupload")) {
    // The device's state forbids it (nothing to revert to, busy, slot changed).
    return 409;
  }
  if (cat == caf::atom("fwfile")) {
    switch (static_cast<runtime::firmware_file_errc>(err.code())) {
      case runtime::firmware_file_errc::bad_manifest:
      case runtime::firmware_file_errc::bad_archive:
      case runtime::firmware_file_errc::truncated:
      case runtime::firmware_file_errc::hash_mismatch:
        return 400;
      case runtime::firmware_file_errc::bad_signature:
        return 403;
      case runtime::firmware_file_errc::wrong_target:
      case runtime::firmware_file_errc::rollback:
        return 422;
      case runtime::firmware_file_errc::too_large:
        return 413;
      case runtime::firmware_file_errc::io_error:
        return 500;
    }
  }
  if (cat == caf::atom("overlay")) {
    switch (static_cast<runtime::overlay_errc>(err.code())) {
      case runtime::overlay_errc::bad_signature:
        return 403;
      case runtime::overlay_errc::too_large:
        return 413;
      case runtime::overlay_errc::unknown_app:
        return 404;
      case runtime::overlay_errc::io_error:
        return 507;
      case runtime::overlay_errc::no_last_good:
      case runtime::overlay_errc::stale:
        return 409;
      case runtime::overlay_errc::unavailable:
        return 503;
      default:
        return 400;
    }
  }
  if (cat == caf::atom("app")) {
    switch (static_cast<app_errc>(err.code())) {
      case app_errc::unknown_app:
        return 404;
      case app_errc::not_running:
        return 409;
      case app_errc::command_failed:
        return 422;
      default:
        return 500;
    }
  }
  if (cat == caf::atom("config")) {
    return 400;
  }
  if (cat == caf::atom("system") && err.code() == static_cast<uint8_t>(caf::sec::request_timeout)) {
    return 504;
  }
  return 500;
}

void reply(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, const caf::error& err) {
  reply(res, http_status_of(err), {{"error", runtime::describe(err)}});
}

caf::error service_not_running(caf::atom_value name) {
  return runtime::make_error(runtime::kv_errc::unreadable,
                             "the " + caf::to_string(name) + " service is not running");
}

}  // namespace myelin::actors
