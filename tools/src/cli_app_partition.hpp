// The application partition's line of `myelin status`.
#pragma once

#include <ostream>

#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

/// Prints "storage:  <summary>" from GET /v1/app-partition; prints nothing
/// when the device has no such route (an older myelin) or cannot answer.
void print_app_partition_line(const device_address& dev, std::ostream& out);

}  // namespace myelin::tools
