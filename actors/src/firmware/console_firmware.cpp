// The control channel's firmware upload routes: a streamed `.fw` body handed to
// the firmware service's upload chunk by chunk (cpp-httplib content receiver),
// and its progress.
#include "firmware/console_firmware.hpp"

#include <memory>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "console/console_http.hpp"
#include "console/console_server.hpp"
#include "myelin/actors/firmware.hpp"
#include "myelin/actors/firmware_upload.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;

/// The control channel's limit for request bodies read into memory; larger
/// uploads must use chunked transfer encoding (docs/reference/control-api.md).
constexpr uint64_t in_memory_body_limit = 1 << 20;

uint64_t header_u64(const httplib::Request& req, const char* name) {
  if (!req.has_header(name)) {
    return 0;
  }
  try {
    return std::stoull(req.get_header_value(name));
  } catch (const std::exception&) {
    return 0;
  }
}

json progress_json(const firmware_upload_progress& p) {
  return {{"state", p.state}, {"bytes", p.bytes},     {"total", p.total}, {"written", p.written},
          {"slot", p.slot},   {"version", p.version}, {"error", p.error}};
}

}  // namespace

void install_firmware_routes(caf::actor_system& sys, httplib::Server& srv,
                             const console_options& opts) {
  srv.Get("/v1/fw/upload/status", [&sys](const httplib::Request&, httplib::Response& res) {
    auto progress = ask_service<firmware_upload_progress>(
        sys, firmware_registry_name, std::chrono::seconds{10}, fw_upload_status_atom::value);
    if (!progress) {
      return reply_error(res, progress.error());
    }
    res.set_content(progress_json(*progress).dump(), "application/json");
  });
  srv.Post("/v1/fw/upload", [&sys, opts](const httplib::Request& req, httplib::Response& res,
                                         const httplib::ContentReader& content_reader) {
    // The firmware service's upload: the body streams into it from here.
    auto upload = ask_service<std::shared_ptr<firmware_upload>>(
        sys, firmware_registry_name, std::chrono::seconds{10}, fw_upload_session_atom::value);
    if (!upload) {
      content_reader([](const char*, size_t) { return true; });
      return reply_error(res, upload.error());
    }
    auto length = header_u64(req, "Content-Length");
    bool reboot = req.has_param("reboot") && req.get_param_value("reboot") != "0" &&
                  req.get_param_value("reboot") != "false";
    bool force = req.has_param("force") && req.get_param_value("force") != "0" &&
                 req.get_param_value("force") != "false";
    auto total = length != 0 ? length : header_u64(req, "X-Firmware-Size");
    firmware_upload_outcome outcome;
    if (auto source = direct_body_source(req)) {
      // Plain HTTP: the body goes from the socket straight into the upload
      // buffer, in large reads, with either framing (decision 0064).
      outcome = (*upload)->run(source, total, force);
    } else if (length > in_memory_body_limit) {
      content_reader([](const char*, size_t) { return true; });  // skipped by httplib
      // cpp-httplib's reader (TLS) keeps a Content-Length body in memory.
      return reply(res, 413,
                   {{"error",
                     "firmware uploads over HTTPS larger than 1 MiB must be sent with "
                     "Transfer-Encoding: chunked (myelin fw push does)"}});
    } else {
      outcome = (*upload)->run(
          [&content_reader](const std::function<bool(const char*, size_t)>& sink) {
            return content_reader(
                [&sink](const char* data, size_t size) { return sink(data, size); });
          },
          total, force);
    }
    if (outcome.error) {
      return reply_error(res, outcome.error);
    }
    reply(res, 200,
          {{"ok", true},
           {"slot", outcome.slot},
           {"product", outcome.manifest.product},
           {"version", outcome.manifest.version},
           {"uuid", outcome.manifest.uuid},
           {"rebooting", reboot && static_cast<bool>(opts.request_power)}});
    if (reboot && opts.request_power) {
      opts.request_power(runtime::power_action::reboot, "", false);
    }
  });
}

}  // namespace myelin::actors
