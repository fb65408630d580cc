// `myelin net [IFNAME] [--json]`: the device's network state (GET /v1/net).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

/// The `net` subcommand: added to the tool's CLI::App by the constructor,
/// run by run() when parsed().
class net_command {
 public:
  explicit net_command(CLI::App& app);

  bool parsed() const { return cmd_->parsed(); }

  /// Asks the device and prints; the exit code (0 ok, 1 failed).
  int run();

 private:
  CLI::App* cmd_;
  std::string ifname_;
  device_flags flags_;
  bool json_ = false;
};

}  // namespace myelin::tools
