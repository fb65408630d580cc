// `myelin watchdog`: the device's hardware watchdog, and stopping its petting.
#include "myelin/tools/cli_watchdog.hpp"

#include <iostream>
#include <sstream>

#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/device_client.hpp"
#include "myelin/tools/device_flags.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

int fail(const std::string& what) {
  std::cerr << "myelin: " << what << "\n";
  return 1;
}

std::string seconds_or_unknown(const json& doc, const char* key) {
  auto v = doc.value(key, json{});
  return v.is_number() ? std::to_string(v.get<int64_t>()) + " s" : std::string{"unknown"};
}

}  // namespace

std::string render_watchdog(const json& doc) {
  std::ostringstream out;
  auto state = doc.value("state", "?");
  out << "state:      " << state;
  if (!doc.value("problem", "").empty()) {
    out << " (" << doc.value("problem", "") << ")";
  }
  out << "\n";
  if (state == "off") {
    out << "            no watchdog.device is configured\n";
    return out.str();
  }
  out << "device:     " << doc.value("device", "?") << " (" << doc.value("identity", "?") << ")\n"
      << "timeout:    " << seconds_or_unknown(doc, "timeout_s") << ", time left "
      << seconds_or_unknown(doc, "time_left_s") << "\n"
      << "petting:    every " << doc.value("pet_interval_ms", 0) << " ms, " << doc.value("pets", 0)
      << " pets, " << doc.value("failed_rounds", 0) << " failed rounds";
  auto since = doc.value("since_last_pet_ms", json{});
  if (since.is_number()) {
    out << ", last " << since.get<int64_t>() << " ms ago";
  }
  out << "\n"
      << "last reset: " << doc.value("last_reset", "unknown") << "\n";
  return out.str();
}

watchdog_command::watchdog_command(CLI::App& app)
    : cmd_(app.add_subcommand("watchdog", "Show the device's hardware watchdog")) {
  stop_ = cmd_->add_subcommand(
      "stop-petting",
      "Stop petting the watchdog: the hardware resets the device within its timeout");
  for (auto* c : {cmd_, stop_}) {
    add_device_flags(c, flags_);
    c->add_flag("--json", json_, "Print JSON");
  }
}

int watchdog_command::run() {
  auto answer = stop_->parsed() ? ask_device_json(flags_, "POST", "/v1/watchdog/stop-petting")
                                : ask_device_json(flags_, "GET", "/v1/watchdog");
  if (!answer) {
    return fail(runtime::describe(answer.error()));
  }
  const auto& doc = *answer;
  if (!doc.is_object()) {
    return fail("the device answered something that is not a JSON object");
  }
  if (json_) {
    std::cout << doc.dump(2) << "\n";
  } else {
    if (stop_->parsed()) {
      std::cout << "petting stopped: the device resets within "
                << seconds_or_unknown(doc, "timeout_s") << "\n";
    }
    std::cout << render_watchdog(doc);
  }
  return 0;
}

}  // namespace myelin::tools
