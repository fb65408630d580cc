// The console's overlay routes: JSON <-> one message to the overlays service
// and its reply. The service pushes, restarts, rolls back and decides.
#include "overlays/console_overlays.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "console/console_http.hpp"
#include "myelin/actors/overlays.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

/// Bounds a push: the apply, the restarts (overlays.start_timeout_ms), a
/// rollback's restarts, and the pushes queued before it.
constexpr auto push_timeout = std::chrono::milliseconds{5min};
constexpr auto query_timeout = std::chrono::milliseconds{10s};

json stack_json(const std::vector<std::pair<std::string, bool>>& entries) {
  json out = json::array();
  for (const auto& [name, persistent] : entries) {
    out.push_back({{"name", name}, {"persistent", persistent}});
  }
  return out;
}

json apps_json(const std::vector<overlay_app_row>& rows) {
  json out = json::object();
  for (const auto& r : rows) {
    json row = {{"hash", r.hash}};
    if (!r.state.empty()) {
      row["state"] = r.state;
      row["module"] = r.module;
    }
    out[r.name] = std::move(row);
  }
  return out;
}

json result_json(const overlay_result& r) {
  json out = {{"ok", r.ok}};
  if (!r.overlay.empty()) {
    out["overlay"] = r.overlay;
  }
  out["apps"] = apps_json(r.apps);
  if (r.probation_s > 0) {
    out["probation_s"] = r.probation_s;
  }
  if (!r.failed.empty()) {
    out["failed"] = r.failed;
  }
  if (!r.ok && !r.error.empty()) {
    out["rolled_back"] = r.rolled_back;
    out["error"] = r.error;
    out["log"] = r.log;
  }
  return out;
}

}  // namespace

void install_overlay_routes(caf::actor_system& sys, httplib::Server& srv, uint64_t max_bytes) {
  srv.Get("/v1/overlays", [&sys](const httplib::Request&, httplib::Response& res) {
    auto info = ask_service<overlays_info>(sys, overlays_registry_name, query_timeout,
                                           overlays_info_atom::value);
    if (!info) {
      return reply_error(res, info.error());
    }
    json body = {{"stack", stack_json(info->stack)},
                 {"last_good", stack_json(info->last_good)},
                 {"apps", info->apps},
                 {"pushed_apps", info->pushed_apps},
                 {"allow_new_apps", info->allow_new_apps},
                 {"max_bytes", info->max_bytes},
                 {"firmware_uuid", info->firmware_uuid},
                 {"sequence", info->sequence},
                 {"bound", info->bound},
                 {"aside_at_boot", info->aside_at_boot},
                 {"set_aside", info->has_aside ? json{{"slot", info->aside_slot},
                                                      {"stack", stack_json(info->aside_stack)}}
                                               : json(nullptr)},
                 {"last_rollback",
                  info->has_last_rollback ? result_json(info->last_rollback) : json(nullptr)}};
    reply(res, 200, body);
  });
  srv.Get(
      R"(/v1/overlays/apps/([^/]+))", [&sys](const httplib::Request& req, httplib::Response& res) {
        auto files =
            ask_service<overlay_app_files>(sys, overlays_registry_name, query_timeout,
                                           overlays_files_atom::value, std::string{req.matches[1]});
        if (!files) {
          return reply_error(res, files.error());
        }
        reply(res, 200, {{"app", files->app}, {"hash", files->hash}, {"files", files->files}});
      });
  srv.Post("/v1/overlays", [&sys, max_bytes](const httplib::Request&, httplib::Response& res,
                                             const httplib::ContentReader& content) {
    if (max_bytes == 0) {
      return reply(res, 503, {{"error", "overlays are not available on this device"}});
    }
    std::string body;
    bool too_big = false;
    uint64_t discarded = 0;
    bool complete = content([&](const char* data, size_t size) {
      if (too_big || body.size() + size > max_bytes) {
        // Read on (and drop) up to another max(max_bytes, 16 MiB), so that
        // the client gets the 413 rather than a broken pipe; beyond, hang up.
        too_big = true;
        body.clear();
        discarded += size;
        return discarded <= std::max<uint64_t>(max_bytes, 16u << 20);
      }
      body.append(data, size);
      return true;
    });
    if (too_big) {
      return reply(res, 413,
                   {{"error", "the overlay is larger than overlays.max_bytes (" +
                                  std::to_string(max_bytes) + " bytes); nothing was changed"}});
    }
    if (!complete) {
      return reply(res, 400, {{"error", "the overlay did not arrive completely"}});
    }
    auto result = ask_service<overlay_result>(sys, overlays_registry_name, push_timeout,
                                              overlays_push_atom::value, std::move(body));
    if (!result) {
      return reply_error(res, result.error());
    }
    reply(res, result->ok ? 200 : 422, result_json(*result));
  });
  auto reset = [&sys](auto atom) {
    return [&sys, atom](const httplib::Request&, httplib::Response& res) {
      auto result = ask_service<overlay_result>(sys, overlays_registry_name, push_timeout, atom);
      if (!result) {
        return reply_error(res, result.error());
      }
      reply(res, 200, result_json(*result));
    };
  };
  srv.Post("/v1/overlays/rollback", reset(overlays_rollback_atom::value));
  srv.Post("/v1/overlays/clear", reset(overlays_clear_atom::value));
}

}  // namespace myelin::actors
