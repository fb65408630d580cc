// The control channel's uevent routes (GET /v1/uevent, /v1/uevent/stats,
// /v1/uevent/follow), installed by console.cpp.
#pragma once

#include <caf/fwd.hpp>

namespace httplib {
class Server;
}

namespace myelin::actors {

/// Adds the uevent routes to `srv`; they ask the `uevent` service in the registry.
void install_uevent_routes(caf::actor_system& sys, httplib::Server& srv);

}  // namespace myelin::actors
