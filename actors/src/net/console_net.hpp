// The control channel's routes of the net service (GET /v1/net, /v1/net/<if>).
#pragma once

#include <httplib.h>
#include <caf/fwd.hpp>

namespace myelin::actors {

/// Adds GET /v1/net[?prefix=P] and GET /v1/net/<ifname> to `srv`; the
/// handlers ask the registered `net` service (see control-api.md).
void install_net_routes(caf::actor_system& sys, httplib::Server& srv);

}  // namespace myelin::actors
