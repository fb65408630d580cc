// `myelin logs`: prints the device's log records (GET /v1/logs), and with -f
// follows them by long-polling.
#include "myelin/tools/logs_command.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

struct logs_options {
  std::string device;
  std::string ca;
  std::string cert;
  std::string key;
  bool follow = false;
  std::string app;
  std::string source;
  std::string level;
  bool json = false;
  unsigned lines = 50;
};

/// "HH:MM:SS.mmm level [source] message" in local time.
std::string format_record(const json& r) {
  auto us = r.value("time_us", int64_t{0});
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char clock[16];
  std::strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
  char ms[8];
  std::snprintf(ms, sizeof(ms), ".%03d", static_cast<int>((us / 1000) % 1000));
  auto level = r.value("level", "?");
  level.resize(std::max<size_t>(level.size(), 5), ' ');
  return std::string{clock} + ms + " " + level + " [" + r.value("source", "?") + "] " +
         r.value("message", "");
}

std::string filters(const logs_options& o) {
  std::string q;
  if (!o.app.empty()) {
    q += "&app=" + tools::url_encode(o.app);
  }
  if (!o.source.empty()) {
    q += "&source=" + tools::url_encode(o.source);
  }
  if (!o.level.empty()) {
    q += "&level=" + tools::url_encode(o.level);
  }
  return q;
}

int run_logs(const logs_options& o) {
  auto dev = parse_device_address(o.device);
  if (!dev) {
    std::cerr << "myelin: " << runtime::describe(dev.error()) << "\n";
    return 1;
  }
  if (auto err = set_credentials(*dev, o.ca, o.cert, o.key)) {
    std::cerr << "myelin: " << runtime::describe(err) << "\n";
    return 1;
  }
  auto fetch = [&](const std::string& path) -> std::optional<json> {
    auto body = get(*dev, path);
    if (!body) {
      std::cerr << "myelin: " << runtime::describe(body.error()) << "\n";
      return std::nullopt;
    }
    auto doc = json::parse(*body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object() || !doc.contains("records") ||
        !doc["records"].is_array()) {
      std::cerr << "myelin: the device answered something that is not a log page\n";
      return std::nullopt;
    }
    return doc;
  };
  auto print = [&](const json& page) {
    if (page.value("dropped", uint64_t{0}) > 0) {
      std::cerr << "-- " << page.value("dropped", uint64_t{0})
                << " records were overwritten before they could be read --\n";
    }
    for (const auto& r : page["records"]) {
      std::cout << (o.json ? r.dump(-1, ' ', false, json::error_handler_t::replace)
                           : format_record(r))
                << "\n";
    }
    std::cout.flush();
  };
  auto page = fetch("/v1/logs?limit=" + std::to_string(o.lines) + filters(o));
  if (!page) {
    return 1;
  }
  print(*page);
  if (!o.follow) {
    return 0;
  }
  auto next = page->value("last", uint64_t{0});
  auto boot = page->value("boot", std::string{});
  bool probe = false;
  for (;;) {
    auto started = std::chrono::steady_clock::now();
    // After the device was unreachable, first ask without waiting: it may
    // have restarted, and then `next` means nothing there.
    page = fetch("/v1/logs?since=" + std::to_string(next) + (probe ? "" : "&wait_ms=20000") +
                 "&limit=1000" + filters(o));
    if (!page) {
      // Following survives a device that reboots: try again.
      std::cerr << "myelin: retrying in 2 s\n";
      std::this_thread::sleep_for(std::chrono::seconds{2});
      probe = true;
      continue;
    }
    probe = false;
    if (page->value("boot", boot) != boot) {
      // The device restarted: its sequence numbers started over.
      std::cerr << "-- the device restarted --\n";
      boot = page->value("boot", boot);
      next = 0;
      continue;
    }
    print(*page);
    next = page->value("next", next);
    // The device answers at once when too many followers wait: do not spin.
    if ((*page)["records"].empty() &&
        std::chrono::steady_clock::now() - started < std::chrono::milliseconds{500}) {
      std::this_thread::sleep_for(std::chrono::seconds{1});
    }
  }
}

}  // namespace

void add_logs_command(CLI::App& app) {
  auto o = std::make_shared<logs_options>();
  auto* cmd = app.add_subcommand("logs", "Print the device's log records (the ring)");
  cmd->add_flag("-f,--follow", o->follow, "Keep printing records as they arrive");
  cmd->add_option("--app", o->app, "Only the records of this app");
  cmd->add_option("--source", o->source,
                  "Only this source (kernel, syslog:IDENT, a core service such as kv)");
  cmd->add_option("--level", o->level, "Only records at this level or above")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical"}));
  cmd->add_option("-n,--lines", o->lines, "How many of the newest records to print first")
      ->check(CLI::Range(0, 10000));
  cmd->add_flag("--json", o->json, "One JSON object per record");
  cmd->add_option("--device", o->device,
                  "HOST:PORT of the device's control channel "
                  "(default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  cmd->add_option("--ca", o->ca, "Talk HTTPS: the CA that signed the device's certificate");
  cmd->add_option("--cert", o->cert, "Client certificate for HTTPS (or $MYELIN_CERT)");
  cmd->add_option("--key", o->key, "Client private key for HTTPS (or $MYELIN_KEY)");
  cmd->callback([o] {
    if (!o->app.empty() && !o->source.empty()) {
      throw CLI::ValidationError("--app and --source", "give one of them, not both");
    }
    int code = run_logs(*o);
    if (code != 0) {
      throw CLI::RuntimeError(code);
    }
    throw CLI::Success();
  });
}

}  // namespace myelin::tools
