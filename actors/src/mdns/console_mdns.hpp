// The control channel's route of the mdns service (GET /v1/mdns).
#pragma once

#include <httplib.h>
#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/mdns.hpp"

namespace myelin::actors {

nlohmann::json mdns_json(const mdns_status& s);

void install_mdns_routes(caf::actor_system& sys, httplib::Server& srv);

}  // namespace myelin::actors
