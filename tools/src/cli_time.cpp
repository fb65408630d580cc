// `myelin time`: the device's clock and its floor.
#include "myelin/tools/cli_time.hpp"

#include <iostream>

#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

namespace {

std::string synchronized_text(const nlohmann::json& doc) {
  if (!doc.value("synchronized", false)) {
    auto err = doc.value("ntp_error", "");
    auto servers = doc.value("ntp_servers", nlohmann::json::array());
    if (servers.empty()) {
      return "no (no NTP servers configured)";
    }
    return err.empty() ? "no (asking)" : "no (" + err + ")";
  }
  return "yes (" + doc.value("ntp_server", "?") + ", stratum " +
         std::to_string(doc.value("ntp_stratum", 0)) + ", offset " +
         std::to_string(doc.value("ntp_offset_us", int64_t{0}) / 1000) + " ms)";
}

}  // namespace

time_command::time_command(CLI::App& app)
    : cmd_(app.add_subcommand("time", "Show the device's clock, its floor and synchronisation")) {
  add_device_flags(cmd_, flags_);
  cmd_->add_flag("--json", json_, "Print JSON");
}

int time_command::run() {
  auto fail = [](const std::string& what) {
    std::cerr << "myelin: " << what << "\n";
    return 1;
  };
  auto answer = ask_device_json(flags_, "GET", "/v1/time");
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
  std::cout << "now:          " << doc.value("now_utc", "?") << "\n"
            << "floor:        " << doc.value("floor_utc", "?") << " ("
            << doc.value("floor_source", "?") << ")\n"
            << "synchronized: " << synchronized_text(doc) << "\n"
            << "at boot:      "
            << (doc.value("adjustment", "").empty() ? std::string{"the clock was fine"}
                                                    : doc.value("adjustment", ""))
            << "\n"
            << "saved to:     " << doc.value("saved_file", "") << "\n";
  return 0;
}

}  // namespace myelin::tools
