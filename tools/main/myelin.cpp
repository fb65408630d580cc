// myelin: the command-line tool that talks to a device (or works on local files).
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "myelin/runtime/config.hpp"
#include "myelin/runtime/version.hpp"
#include "myelin/tools/device_client.hpp"

namespace {

using nlohmann::json;

void print_tree(const json& rows, int depth) {
  for (const auto& row : rows) {
    std::cout << std::string(static_cast<size_t>(depth) * 2, ' ') << row.value("id", "?") << "  "
              << row.value("status", "?") << "  " << row.value("type", "?") << "\n";
    if (row.contains("children")) {
      print_tree(row["children"], depth + 1);
    }
  }
}

int fail(const caf::error& err) {
  std::cerr << "myelin: " << myelin::runtime::describe(err) << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"myelin: talk to a myelin device"};
  app.require_subcommand(1);
  std::string device;
  bool as_json = false;
  bool show_version = false;
  app.add_flag("--version", show_version, "Print the version and exit");

  auto* status = app.add_subcommand("status", "Show the device's supervision tree and state");
  status->add_option("--device", device,
                     "HOST:PORT of the device's control channel "
                     "(default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  status->add_flag("--json", as_json, "Print the raw JSON answer");

  // --version alone, without a subcommand.
  if (argc == 2 && std::string{argv[1]} == "--version") {
    std::cout << "myelin " << myelin::runtime::version() << "\n";
    return 0;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (status->parsed()) {
    auto dev = myelin::tools::parse_device_address(device);
    if (!dev) {
      return fail(dev.error());
    }
    auto body = myelin::tools::get(*dev, "/v1/status");
    if (!body) {
      return fail(body.error());
    }
    auto doc = json::parse(*body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      std::cerr << "myelin: the device answered something that is not JSON\n";
      return 1;
    }
    if (as_json) {
      std::cout << doc.dump(2) << "\n";
      return 0;
    }
    std::cout << "device:   " << doc.value("device", "?") << "\n"
              << "version:  " << doc.value("version", "?") << "\n"
              << "uptime:   " << doc.value("uptime_ms", 0) << " ms\n"
              << "state:    " << doc.value("state_dir", "?") << "\n"
              << "control:  " << doc.value("control", "?") << "\n"
              << "tree:\n";
    print_tree(doc.value("tree", json::array()), 1);
    return 0;
  }
  return 0;
}
