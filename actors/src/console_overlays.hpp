// The console's overlay routes (push, hashes, rollback): see myelin/actors/overlays.hpp.
#pragma once

#include <httplib.h>
#include <caf/actor_system.hpp>

#include "myelin/actors/overlays.hpp"

namespace myelin::actors {

/// Adds GET/POST /v1/overlays... to `srv`. Raises the server's payload limit to
/// overlays.max_bytes for POST /v1/overlays only (other routes keep 1 MiB).
void install_overlay_routes(caf::actor_system& sys, httplib::Server& srv,
                            const overlay_service_options& opts);

}  // namespace myelin::actors
