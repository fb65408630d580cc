// The control channel's routes of the watchdog service (GET /v1/watchdog,
// POST /v1/watchdog/stop-petting).
#pragma once

#include <httplib.h>
#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/watchdog.hpp"

namespace myelin::actors {

/// The watchdog's status as JSON (also a part of GET /v1/status).
nlohmann::json watchdog_json(const watchdog_status& s);

/// Adds the watchdog's routes to `srv`; the handlers ask the registered
/// `watchdog` service (see control-api.md).
void install_watchdog_routes(caf::actor_system& sys, httplib::Server& srv);

}  // namespace myelin::actors
