// The control channel's route of the mdns service.
#include "mdns/console_mdns.hpp"

#include <chrono>

#include "console/console_http.hpp"

namespace myelin::actors {

nlohmann::json mdns_json(const mdns_status& s) {
  return {{"enabled", s.enabled},
          {"state", s.state},
          {"host", s.host},
          {"instance", s.instance},
          {"port", s.port},
          {"txt", s.txt},
          {"interfaces", s.interfaces},
          {"queries", s.queries},
          {"answers", s.answers},
          {"malformed", s.malformed},
          {"announcements", s.announcements},
          {"conflicts", s.conflicts},
          {"last_conflict", s.last_conflict}};
}

void install_mdns_routes(caf::actor_system& sys, httplib::Server& srv) {
  srv.Get("/v1/mdns", [&sys](const httplib::Request&, httplib::Response& res) {
    auto s = ask_service<mdns_status>(sys, mdns_registry_name, std::chrono::milliseconds{5000},
                                      mdns_status_atom::value);
    if (!s) {
      return reply_error(res, s.error());
    }
    reply(res, 200, mdns_json(*s));
  });
}

}  // namespace myelin::actors
