// GET /v1/app-partition: the application partition's state on the control channel.
#pragma once

#include <httplib.h>

#include "myelin/actors/console.hpp"

namespace myelin::actors {

/// Adds GET /v1/app-partition -> 200 {"kind", "device", "target", "fstype",
/// "outcome", "summary", "reason", "fallback", "durable", "erased", "mount":
/// {"source", "target", "fstype", "options", "read_only"} | null}, or 404 when
/// the console was given no partition.
void install_app_partition_routes(httplib::Server& srv, const console_options& opts);

}  // namespace myelin::actors
