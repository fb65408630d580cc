// The control channel's firmware upload routes (private to the console).
#pragma once

#include <caf/actor_system.hpp>

#include "myelin/actors/console.hpp"

namespace httplib {
class Server;
}

namespace myelin::actors {

/// Installs POST /v1/fw/upload[?reboot=1] and GET /v1/fw/upload/status.
void install_firmware_routes(caf::actor_system& sys, httplib::Server& srv,
                             const console_options& opts);

}  // namespace myelin::actors
