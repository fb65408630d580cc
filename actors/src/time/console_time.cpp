// The control channel's route of the time service.
#include "time/console_time.hpp"

#include <chrono>

#include "console/console_http.hpp"
#include "myelin/runtime/time/clock_floor.hpp"

namespace myelin::actors {

nlohmann::json time_json(const time_status& s) {
  auto at = [](int64_t t) { return t < 0 ? nlohmann::json(nullptr) : nlohmann::json(t); };
  return {{"now", s.now},
          {"now_utc", runtime::format_utc(s.now)},
          {"floor", s.floor},
          {"floor_utc", runtime::format_utc(s.floor)},
          {"floor_source", s.floor_source},
          {"build_time", s.build_time},
          {"adjustment", s.adjustment},
          {"set_clock", s.set_clock},
          {"rtc", at(s.rtc)},
          {"saved_file", s.saved_file},
          {"last_saved", at(s.last_saved)},
          {"synchronized", s.synchronized},
          {"ntp_servers", s.ntp_servers},
          {"ntp_server", s.ntp_server},
          {"ntp_offset_us", s.ntp_offset_us},
          {"ntp_delay_us", s.ntp_delay_us},
          {"ntp_stratum", s.ntp_stratum},
          {"last_sync", at(s.last_sync)},
          {"ntp_error", s.ntp_error}};
}

void install_time_routes(caf::actor_system& sys, httplib::Server& srv) {
  srv.Get("/v1/time", [&sys](const httplib::Request&, httplib::Response& res) {
    auto s = ask_service<time_status>(sys, time_registry_name, std::chrono::milliseconds{5000},
                                      time_status_atom::value);
    if (!s) {
      return reply_error(res, s.error());
    }
    reply(res, 200, time_json(*s));
  });
}

}  // namespace myelin::actors
