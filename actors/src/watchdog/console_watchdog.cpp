// The control channel's routes of the watchdog service.
#include "watchdog/console_watchdog.hpp"

#include <chrono>

#include "console/console_http.hpp"

namespace myelin::actors {

namespace {

constexpr std::chrono::milliseconds watchdog_timeout{5000};

nlohmann::json number_or_null(int64_t v) {
  return v < 0 ? nlohmann::json(nullptr) : nlohmann::json(v);
}

}  // namespace

nlohmann::json watchdog_json(const watchdog_status& s) {
  return {{"state", s.state},
          {"device", s.device},
          {"identity", s.identity},
          {"timeout_s", number_or_null(s.timeout_s)},
          {"time_left_s", number_or_null(s.time_left_s)},
          {"pet_interval_ms", s.pet_interval_ms},
          {"last_reset", s.last_reset},
          {"pets", s.pets},
          {"failed_rounds", s.failed_rounds},
          {"since_last_pet_ms", number_or_null(s.since_last_pet_ms)},
          {"problem", s.problem}};
}

void install_watchdog_routes(caf::actor_system& sys, httplib::Server& srv) {
  srv.Get("/v1/watchdog", [&sys](const httplib::Request&, httplib::Response& res) {
    auto s = ask_service<watchdog_status>(sys, watchdog_registry_name, watchdog_timeout,
                                          watchdog_status_atom::value);
    if (!s) {
      return reply_error(res, s.error());
    }
    reply(res, 200, watchdog_json(*s));
  });
  srv.Post("/v1/watchdog/stop-petting", [&sys](const httplib::Request&, httplib::Response& res) {
    if (auto err = ask_service_done(sys, watchdog_registry_name, watchdog_timeout,
                                    watchdog_stop_petting_atom::value)) {
      return reply_error(res, err);
    }
    auto s = ask_service<watchdog_status>(sys, watchdog_registry_name, watchdog_timeout,
                                          watchdog_status_atom::value);
    reply(res, 200, s ? watchdog_json(*s) : nlohmann::json{{"state", "stopped petting"}});
  });
}

}  // namespace myelin::actors
