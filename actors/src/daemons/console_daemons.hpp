// The control channel's routes of the daemon manager (GET /v1/daemons,
// POST /v1/daemons/<name>/restart).
#pragma once

#include <httplib.h>
#include <caf/fwd.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/daemons.hpp"

namespace myelin::actors {

/// One daemon's row as JSON (also in GET /v1/status).
nlohmann::json daemon_json(const daemon_status& s);

/// Adds the daemon routes to `srv`; the handlers ask the registered
/// `daemons` manager (see control-api.md).
void install_daemon_routes(caf::actor_system& sys, httplib::Server& srv);

}  // namespace myelin::actors
