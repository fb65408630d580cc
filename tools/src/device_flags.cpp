// The device options shared by the commands (see device_flags.hpp).
#include "myelin/tools/device_flags.hpp"

#include "myelin/runtime/config/config.hpp"

namespace myelin::tools {

void add_device_flags(CLI::App* cmd, device_flags& flags) {
  cmd->add_option("--device", flags.device,
                  "HOST:PORT of the device's control channel "
                  "(default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  cmd->add_option("--ca", flags.ca,
                  "Talk HTTPS: the CA that signed the device's certificate (or $MYELIN_CA)");
  cmd->add_option("--cert", flags.cert, "Client certificate for HTTPS (or $MYELIN_CERT)");
  cmd->add_option("--key", flags.key, "Client private key for HTTPS (or $MYELIN_KEY)");
}

caf::expected<device_address> device_from(const device_flags& flags) {
  auto dev = parse_device_address(flags.device);
  if (!dev) {
    return dev.error();
  }
  if (auto err = set_credentials(*dev, flags.ca, flags.cert, flags.key)) {
    return err;
  }
  return dev;
}

caf::expected<nlohmann::json> ask_device_json(const device_flags& flags, const std::string& method,
                                              const std::string& path) {
  auto dev = device_from(flags);
  if (!dev) {
    return dev.error();
  }
  auto body = method == "POST" ? send(*dev, "POST", path, "{}") : get(*dev, path);
  if (!body) {
    return body.error();
  }
  auto doc = nlohmann::json::parse(*body, nullptr, false);
  if (doc.is_discarded()) {
    return runtime::make_error(runtime::config_errc::invalid_value,
                               "the device answered something that is not JSON");
  }
  return doc;
}

}  // namespace myelin::tools
