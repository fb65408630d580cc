// The options of every command that talks to a device: --device and the TLS
// files, with their environment defaults.
#pragma once

#include <string>

#include <CLI/CLI.hpp>
#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

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

/// Asks the device the flags name: "GET" `path`, or "POST" it with `{}`; the
/// answer as JSON. Errors: the address or credentials, the request's, or an
/// answer that is not JSON.
caf::expected<nlohmann::json> ask_device_json(const device_flags& flags, const std::string& method,
                                              const std::string& path);

}  // namespace myelin::tools
