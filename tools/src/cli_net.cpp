// `myelin net`: prints the device's network properties, node name and connection.
#include "myelin/tools/cli_net.hpp"

#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/device_client.hpp"
#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

std::string text_of(const json& v) {
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v) {
      out += (out.empty() ? "" : " ") + (item.is_string() ? item.get<std::string>() : item.dump());
    }
    return out;
  }
  return v.dump();
}

int fail(const std::string& what) {
  std::cerr << "myelin: " << what << "\n";
  return 1;
}

/// One line per interface: name, type, state, carrier, connection, addresses.
void print_summary(const json& doc) {
  std::cout << "status:     " << doc.value("status", "?") << "\n"
            << "node name:  " << doc.value("node_name", "?") << "\n";
  auto props = doc.value("properties", json::object());
  std::cout << "connection: " << text_of(props.value("connection", json{"?"})) << "\n";
  std::map<std::string, std::map<std::string, std::string>> ifs;
  for (const auto& [name, value] : props.items()) {
    const std::string p = "interface/";
    if (name.compare(0, p.size(), p) != 0) {
      continue;
    }
    auto rest = name.substr(p.size());
    auto slash = rest.find('/');
    if (slash != std::string::npos) {
      ifs[rest.substr(0, slash)][rest.substr(slash + 1)] = text_of(value);
    }
  }
  for (auto& [ifname, f] : ifs) {
    std::cout << "  " << ifname << "  " << f["type"] << "  " << f["state"]
              << (f["lower_up"] == "true" ? "  carrier" : "  no-carrier") << "  "
              << f["connection"];
    if (!f["addresses"].empty()) {
      std::cout << "  " << f["addresses"];
    }
    if (!f["gateway"].empty()) {
      std::cout << "  via " << f["gateway"];
    }
    if (!f["dhcp"].empty()) {
      std::cout << "  dhcp " << f["dhcp"];
    }
    if (!f["error"].empty()) {
      std::cout << "  error: " << f["error"];
    }
    std::cout << "\n";
  }
}

}  // namespace

net_command::net_command(CLI::App& app)
    : cmd_(app.add_subcommand("net", "Show the device's network interfaces and connection")) {
  cmd_->add_option("IFNAME", ifname_, "Only this interface, every property");
  add_device_flags(cmd_, flags_);
  cmd_->add_flag("--json", json_, "Print JSON");
}

int net_command::run() {
  auto answer = ask_device_json(flags_, "GET", ifname_.empty() ? "/v1/net" : "/v1/net/" + ifname_);
  if (!answer) {
    return fail(runtime::describe(answer.error()));
  }
  const auto& doc = *answer;
  if (!doc.is_object()) {
    return fail("the device answered something that is not a JSON object");
  }
  if (json_) {
    std::cout << doc.dump(2) << "\n";
    return 0;
  }
  if (ifname_.empty()) {
    print_summary(doc);
    return 0;
  }
  auto props = doc.value("properties", json::object());
  for (const auto& [name, value] : props.items()) {
    std::cout << name << ": " << text_of(value) << "\n";
  }
  return 0;
}

}  // namespace myelin::tools
