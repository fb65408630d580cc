// `myelin net [IFNAME] [--json]`: the device's network state (GET /v1/net).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

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
  std::string device_;
  std::string ca_;
  std::string cert_;
  std::string key_;
  bool json_ = false;
};

}  // namespace myelin::tools
