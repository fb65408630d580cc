// The control channel's route of the time service (GET /v1/time).
#pragma once

#include <httplib.h>
#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/time.hpp"

namespace myelin::actors {

/// The time service's status as JSON (also a part of GET /v1/status).
nlohmann::json time_json(const time_status& s);

void install_time_routes(caf::actor_system& sys, httplib::Server& srv);

}  // namespace myelin::actors
