// `myelin daemons [restart NAME] [--json]`: the supervised OS programs
// (GET /v1/daemons, POST /v1/daemons/<name>/restart).
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

class daemons_command {
 public:
  explicit daemons_command(CLI::App& app);

  bool parsed() const { return cmd_->parsed(); }

  /// Asks the device and prints; the exit code (0 ok, 1 failed).
  int run();

 private:
  CLI::App* cmd_;
  CLI::App* restart_;
  std::string name_;
  device_flags flags_;
  bool json_ = false;
};

/// The text view of GET /v1/daemons: one line per daemon.
std::string render_daemons(const nlohmann::json& rows);

}  // namespace myelin::tools
