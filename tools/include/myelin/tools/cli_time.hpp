// `myelin time [--json]`: the device's clock, its floor and what the boot did
// with it (GET /v1/time).
#pragma once

#include <CLI/CLI.hpp>

#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

class time_command {
 public:
  explicit time_command(CLI::App& app);

  bool parsed() const { return cmd_->parsed(); }

  /// Asks the device and prints; the exit code (0 ok, 1 failed).
  int run();

 private:
  CLI::App* cmd_;
  device_flags flags_;
  bool json_ = false;
};

}  // namespace myelin::tools
