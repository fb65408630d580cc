// `myelin devices [--wait-ms N] [--interface IF]... [--json]`: the devices
// that announce themselves on the LAN by multicast DNS (_myelin._tcp).
// And `myelin mdns [--json]`: what a device announces (GET /v1/mdns).
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

class devices_command {
 public:
  explicit devices_command(CLI::App& app);

  bool parsed() const { return cmd_->parsed(); }

  /// Asks, listens and prints; 0 when at least one device answered, 1 when
  /// none did or the query could not be sent.
  int run();

 private:
  CLI::App* cmd_;
  int wait_ms_ = 1500;
  std::vector<std::string> interfaces_;
  bool json_ = false;
};

class mdns_command {
 public:
  explicit mdns_command(CLI::App& app);

  bool parsed() const { return cmd_->parsed(); }

  int run();

 private:
  CLI::App* cmd_;
  device_flags flags_;
  bool json_ = false;
};

}  // namespace myelin::tools
