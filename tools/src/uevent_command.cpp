// `myelin uevent [--follow] [--json] [PREFIX]`: prints the device property table
// (GET /v1/uevent) or follows events (a loop of GET /v1/uevent/follow).
#include "uevent_command.hpp"

#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

struct uevent_args {
  std::string prefix;
  bool follow = false;
  bool json = false;
  int64_t since = -1;
  int64_t count = 0;
  std::string device, ca, cert, key;
};

int fail(const std::string& why) {
  std::cerr << "myelin: " << why << "\n";
  return 1;
}

caf::expected<json> get_json(const device_address& dev, const std::string& path) {
  auto body = tools::get(dev, path);
  if (!body) {
    return body.error();
  }
  auto doc = json::parse(*body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return make_error(client_errc::bad_response, "the device answered something that is not JSON");
  }
  return doc;
}

std::string summary(const json& stats) {
  if (!stats.value("available", false)) {
    return "uevent unavailable: " + stats.value("unavailable", std::string{"?"});
  }
  return std::to_string(stats.value("table_size", 0)) + " devices; " +
         std::to_string(stats.value("received", 0)) + " messages received, " +
         std::to_string(stats.value("malformed", 0)) + " malformed, " +
         std::to_string(stats.value("enobufs", 0)) + " overflows (events lost), " +
         std::to_string(stats.value("modprobe_runs", 0)) + " modprobe runs";
}

void print_event(const json& ev) {
  std::cout << ev.value("action", "?") << " " << ev.value("devpath", "?");
  if (ev.contains("devpath_old")) {
    std::cout << " (from " << ev.value("devpath_old", "") << ")";
  }
  auto props = ev.value("properties", json::object());
  for (const auto& [k, v] : props.items()) {
    std::cout << " " << k << "=" << (v.is_string() ? v.get<std::string>() : v.dump());
  }
  if (ev.value("rescan", false)) {
    std::cout << " [re-scan]";
  }
  std::cout << std::endl;
}

int show_table(const device_address& dev, const uevent_args& a) {
  auto doc = get_json(
      dev, "/v1/uevent" + (a.prefix.empty() ? "" : "?prefix=" + tools::url_encode(a.prefix)));
  if (!doc) {
    return fail(runtime::describe(doc.error()));
  }
  if (a.json) {
    std::cout << doc->dump(2) << "\n";
    return 0;
  }
  auto devices = doc->value("devices", json::array());
  for (const auto& d : devices) {
    std::cout << d.value("devpath", "?") << "\n";
    auto props = d.value("properties", json::object());
    for (const auto& [k, v] : props.items()) {
      std::cout << "  " << k << "=" << (v.is_string() ? v.get<std::string>() : v.dump()) << "\n";
    }
  }
  std::cout << summary(doc->value("stats", json::object())) << "\n";
  return 0;
}

int follow(const device_address& dev, const uevent_args& a) {
  std::string cursor = a.since >= 0 ? std::to_string(a.since) : "";
  int64_t printed = 0;
  for (;;) {
    std::string path = "/v1/uevent/follow?wait_ms=10000";
    if (!cursor.empty()) {
      path += "&after=" + cursor;
    }
    if (!a.prefix.empty()) {
      path += "&prefix=" + tools::url_encode(a.prefix);
    }
    auto doc = get_json(dev, path);
    if (!doc) {
      return fail(runtime::describe(doc.error()));
    }
    if (doc->value("missed", 0) > 0) {
      std::cerr << "myelin: missed " << doc->value("missed", 0)
                << " events (the device keeps only the latest)\n";
    }
    auto events = doc->value("events", json::array());
    for (const auto& ev : events) {
      if (a.json) {
        std::cout << ev.dump() << std::endl;
      } else {
        print_event(ev);
      }
      if (a.count > 0 && ++printed >= a.count) {
        return 0;
      }
    }
    cursor = std::to_string(doc->value("next", uint64_t{0}));
  }
}

}  // namespace

std::function<int()> add_uevent_command(CLI::App& app) {
  auto a = std::make_shared<uevent_args>();
  auto* cmd =
      app.add_subcommand("uevent", "Show the device table (kernel uevents), or follow events");
  cmd->add_option("PREFIX", a->prefix,
                  "Only devices under this devpath, e.g. /devices/virtual/net");
  cmd->add_flag("--follow,-f", a->follow, "Print events as they happen (Ctrl-C stops)");
  cmd->add_option("--since", a->since,
                  "With --follow: start after this event id (0: every event the device still "
                  "keeps); default: from now");
  cmd->add_option("--count", a->count, "With --follow: exit after this many events");
  cmd->add_flag("--json", a->json, "Print JSON (one object per line with --follow)");
  cmd->add_option("--device", a->device,
                  "HOST:PORT of the device's control channel "
                  "(default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  cmd->add_option("--ca", a->ca,
                  "Talk HTTPS: the CA that signed the device's certificate (or $MYELIN_CA)");
  cmd->add_option("--cert", a->cert, "Client certificate for HTTPS (or $MYELIN_CERT)");
  cmd->add_option("--key", a->key, "Client private key for HTTPS (or $MYELIN_KEY)");
  return [cmd, a]() -> int {
    if (!cmd->parsed()) {
      return -1;
    }
    auto dev = parse_device_address(a->device);
    if (!dev) {
      return fail(runtime::describe(dev.error()));
    }
    if (auto err = set_credentials(*dev, a->ca, a->cert, a->key)) {
      return fail(runtime::describe(err));
    }
    return a->follow ? follow(*dev, *a) : show_table(*dev, *a);
  };
}

}  // namespace myelin::tools
