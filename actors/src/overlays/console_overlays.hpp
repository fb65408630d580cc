// The console's overlay routes: an adapter to the overlays service (see
// myelin/actors/overlays.hpp for the routes and the protocol).
#pragma once

#include <cstdint>

#include <httplib.h>
#include <caf/actor_system.hpp>

namespace myelin::actors {

/// Adds GET/POST /v1/overlays... to `srv`. A push larger than the server's
/// payload limit (1 MiB) must come with chunked transfer encoding, which the
/// push route reads as a stream up to `max_bytes` (overlays.max_bytes) and
/// hands to the overlays service as one message.
void install_overlay_routes(caf::actor_system& sys, httplib::Server& srv, uint64_t max_bytes);

}  // namespace myelin::actors
