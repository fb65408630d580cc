// The control channel's routes of the daemon manager.
#include "daemons/console_daemons.hpp"

#include <chrono>
#include <vector>

#include "console/console_http.hpp"

namespace myelin::actors {

namespace {

constexpr std::chrono::milliseconds daemons_timeout{5000};
/// A restart waits for the old run's stop (up to its stop timeout).
constexpr std::chrono::milliseconds restart_timeout{60000};

}  // namespace

nlohmann::json daemon_json(const daemon_status& s) {
  return {{"name", s.name},
          {"state", s.state},
          {"pid", s.pid > 0 ? nlohmann::json(s.pid) : nlohmann::json(nullptr)},
          {"restarts", s.restarts},
          {"last_exit", s.last_exit},
          {"command", s.command},
          {"cgroup", s.cgroup},
          {"dropped_lines", s.dropped_lines},
          {"uptime_ms", s.uptime_ms}};
}

void install_daemon_routes(caf::actor_system& sys, httplib::Server& srv) {
  srv.Get("/v1/daemons", [&sys](const httplib::Request&, httplib::Response& res) {
    auto rows = ask_service<std::vector<daemon_status>>(sys, daemons_registry_name, daemons_timeout,
                                                        daemons_status_atom::value);
    if (!rows) {
      return reply_error(res, rows.error());
    }
    auto out = nlohmann::json::array();
    for (const auto& r : *rows) {
      out.push_back(daemon_json(r));
    }
    reply(res, 200, out);
  });
  srv.Post(R"(/v1/daemons/([A-Za-z0-9_.-]{1,64})/restart)", [&sys](const httplib::Request& req,
                                                                   httplib::Response& res) {
    auto row = ask_service<daemon_status>(sys, daemons_registry_name, restart_timeout,
                                          daemon_restart_atom::value, std::string{req.matches[1]});
    if (!row) {
      return reply_error(res, row.error());
    }
    reply(res, 200, daemon_json(*row));
  });
}

}  // namespace myelin::actors
