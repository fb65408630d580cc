// `myelin devices` and `myelin mdns` (see cli_devices.hpp).
#include "myelin/tools/cli_devices.hpp"

#include <algorithm>
#include <iomanip>
#include <iostream>

#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/mdns/mdns_socket.hpp"

namespace myelin::tools {

namespace {

std::string txt_of(const runtime::mdns::found_device& d, const char* key) {
  auto it = d.txt.find(key);
  return it == d.txt.end() ? std::string{} : it->second;
}

}  // namespace

devices_command::devices_command(CLI::App& app)
    : cmd_(app.add_subcommand("devices",
                              "List the devices announcing themselves on the LAN "
                              "(multicast DNS, _myelin._tcp)")) {
  cmd_->add_option("--wait-ms", wait_ms_, "How long to listen for answers")
      ->check(CLI::Range(100, 60000));
  cmd_->add_option("--interface", interfaces_,
                   "Ask only on this interface (repeatable; default: every one with multicast)");
  cmd_->add_flag("--json", json_, "Print JSON");
}

int devices_command::run() {
  runtime::mdns::query_options opts;
  opts.wait = std::chrono::milliseconds{wait_ms_};
  opts.interfaces = interfaces_;
  auto found = runtime::mdns::browse(opts);
  if (!found) {
    std::cerr << "myelin: " << runtime::describe(found.error()) << "\n";
    return 1;
  }
  if (json_) {
    auto list = nlohmann::json::array();
    for (const auto& d : *found) {
      list.push_back({{"instance", d.instance},
                      {"host", d.host},
                      {"address", d.address},
                      {"port", d.port},
                      {"interface", d.interface},
                      {"txt", d.txt}});
    }
    std::cout << list.dump(2) << "\n";
    return found->empty() ? 1 : 0;
  }
  if (found->empty()) {
    std::cerr << "myelin: no device answered within " << wait_ms_
              << " ms (is mdns.enabled on, and the device on this network?)\n";
    return 1;
  }
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ADDRESS", "SERIAL", "PRODUCT", "VERSION", "INTERFACE"}};
  for (const auto& d : *found) {
    auto where = d.address.empty() ? std::string{"?"} : d.address;
    where += ":" + (d.port == 0 ? std::string{"?"} : std::to_string(d.port));
    if (txt_of(d, "tls") == "1") {
      where += " (https)";
    }
    rows.push_back({d.host.empty() ? d.instance : d.host, where, txt_of(d, "serial"),
                    txt_of(d, "product"), txt_of(d, "version"), d.interface});
  }
  std::vector<size_t> width(rows.front().size(), 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      std::cout << (i + 1 < r.size()
                        ? std::string(r[i]) + std::string(width[i] - r[i].size() + 2, ' ')
                        : r[i]);
    }
    std::cout << "\n";
  }
  return 0;
}

mdns_command::mdns_command(CLI::App& app)
    : cmd_(app.add_subcommand("mdns", "Show what the device announces by multicast DNS")) {
  add_device_flags(cmd_, flags_);
  cmd_->add_flag("--json", json_, "Print JSON");
}

int mdns_command::run() {
  auto answer = ask_device_json(flags_, "GET", "/v1/mdns");
  if (!answer) {
    std::cerr << "myelin: " << runtime::describe(answer.error()) << "\n";
    return 1;
  }
  const auto& doc = *answer;
  if (!doc.is_object()) {
    std::cerr << "myelin: the device answered something that is not a JSON object\n";
    return 1;
  }
  if (json_) {
    std::cout << doc.dump(2) << "\n";
    return 0;
  }
  std::cout << "state:         " << doc.value("state", "?") << "\n";
  if (!doc.value("enabled", false)) {
    return 0;
  }
  std::cout << "host:          " << doc.value("host", "") << "\n"
            << "service:       " << doc.value("instance", "") << "._myelin._tcp.local port "
            << doc.value("port", 0) << "\n";
  std::string txt;
  for (const auto& t : doc.value("txt", nlohmann::json::array())) {
    txt += (txt.empty() ? "" : " ") + t.get<std::string>();
  }
  std::cout << "txt:           " << txt << "\n";
  for (const auto& i : doc.value("interfaces", nlohmann::json::array())) {
    std::cout << "interface:     " << i.get<std::string>() << "\n";
  }
  std::cout << "queries:       " << doc.value("queries", 0) << " (" << doc.value("answers", 0)
            << " answered, " << doc.value("malformed", 0) << " malformed)\n"
            << "announcements: " << doc.value("announcements", 0) << "\n";
  if (doc.value("conflicts", 0) > 0) {
    std::cout << "conflicts:     " << doc.value("conflicts", 0)
              << " (last: " << doc.value("last_conflict", "") << ")\n";
  }
  return 0;
}

}  // namespace myelin::tools
