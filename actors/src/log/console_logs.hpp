// The control channel's log routes (GET /v1/logs, GET /v1/logs/stats).
#pragma once

#include <httplib.h>

namespace myelin::actors {

/// Installs the log routes on the console's server. They read the ring of
/// runtime::log_hub::current() directly (it is thread-safe), without a trip
/// through the actor system; without a hub they answer 503.
void install_log_routes(httplib::Server& srv);

/// Ends the long-polls waiting on `srv` (within 250 ms): call it before
/// stopping the server, whose stop waits for every handler to return.
void stop_log_routes(const httplib::Server& srv);

}  // namespace myelin::actors
