// `myelin logs`: the device's log ring, read over the control channel.
#pragma once

#include <CLI/CLI.hpp>

namespace myelin::tools {

/// Adds `logs [-f] [--app APP] [--source S] [--level L] [--json] [-n N]` to
/// `app`. The command runs from its CLI11 callback and ends the parse with
/// CLI::Success (exit 0) or CLI::RuntimeError (its exit code), so run_cli
/// needs only this one call.
void add_logs_command(CLI::App& app);

}  // namespace myelin::tools
