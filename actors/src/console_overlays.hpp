// The console's overlay routes (push, hashes, rollback): see myelin/actors/overlays.hpp.
#pragma once

#include <httplib.h>
#include <caf/actor_system.hpp>

#include "myelin/actors/overlays.hpp"

namespace myelin::actors {

/// Adds GET/POST /v1/overlays... to `srv`. A push larger than the server's
/// payload limit (1 MiB) must come with chunked transfer encoding, which the
/// push route reads as a stream up to overlays.max_bytes.
void install_overlay_routes(caf::actor_system& sys, httplib::Server& srv,
                            const overlay_service_options& opts);

}  // namespace myelin::actors
