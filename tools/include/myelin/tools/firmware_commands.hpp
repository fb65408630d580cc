// `myelin fw create`, `myelin fw info` and `myelin fw push`: firmware files on
// the host and their upload to a device.
#pragma once

#include <functional>
#include <optional>

namespace CLI {
class App;
}

namespace myelin::tools {

/// Adds create, info and push under the `fw` command. The function returned
/// runs whichever of them was parsed and gives its exit code (nullopt when
/// none was): 0 success, 1 failure (the reason on stderr).
std::function<std::optional<int>()> add_firmware_commands(CLI::App* fw);

}  // namespace myelin::tools
