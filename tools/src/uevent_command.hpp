// The `myelin uevent` command: the device table and a live follow of kernel
// device events, through the control channel.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace myelin::tools {

/// Adds `uevent` to `app`. Returns what to run after parsing: it returns the
/// exit code, or -1 when the command was not given.
std::function<int()> add_uevent_command(CLI::App& app);

}  // namespace myelin::tools
