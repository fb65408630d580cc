// The options of every command that talks to a device: --device and the TLS
// files, with their environment defaults.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <caf/expected.hpp>

#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

struct device_flags {
  std::string device;
  std::string ca;
  std::string cert;
  std::string key;
};

/// Adds --device, --ca, --cert and --key to `cmd`, into `flags`.
void add_device_flags(CLI::App* cmd, device_flags& flags);

/// The device the flags name (parse_device_address, then set_credentials).
caf::expected<device_address> device_from(const device_flags& flags);

}  // namespace myelin::tools
