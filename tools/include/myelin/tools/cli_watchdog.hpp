// `myelin watchdog [stop-petting] [--json]`: the device's hardware watchdog
// (GET /v1/watchdog), or stop petting it to see the board reset
// (POST /v1/watchdog/stop-petting).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include <nlohmann/json.hpp>
#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

/// The `watchdog` subcommand: added to the tool's CLI::App by the
/// constructor, run by run() when parsed().
class watchdog_command {
 public:
  explicit watchdog_command(CLI::App& app);

  bool parsed() const { return cmd_->parsed(); }

  /// Asks the device and prints; the exit code (0 ok, 1 failed).
  int run();

 private:
  CLI::App* cmd_;
  CLI::App* stop_;
  device_flags flags_;
  bool json_ = false;
};

/// The text view of a watchdog status (JSON of GET /v1/watchdog).
std::string render_watchdog(const nlohmann::json& doc);

}  // namespace myelin::tools
