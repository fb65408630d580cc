// `myelin daemons`: the supervised OS programs, and restarting one.
#include "myelin/tools/cli_daemons.hpp"

#include <iomanip>
#include <iostream>
#include <sstream>

#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

int fail(const std::string& what) {
  std::cerr << "myelin: " << what << "\n";
  return 1;
}

std::string line_of(const json& d) {
  std::ostringstream out;
  out << std::left << std::setw(16) << d.value("name", "?") << std::setw(11)
      << d.value("state", "?");
  auto pid = d.value("pid", json{});
  out << std::setw(10) << (pid.is_number() ? "pid " + std::to_string(pid.get<int64_t>()) : "-")
      << "restarts " << d.value("restarts", 0);
  if (!d.value("last_exit", "").empty()) {
    out << "  last: " << d.value("last_exit", "");
  }
  if (d.value("dropped_lines", 0) > 0) {
    out << "  dropped " << d.value("dropped_lines", 0) << " lines";
  }
  out << "\n" << std::string(16, ' ') << d.value("command", "") << "\n";
  return out.str();
}

}  // namespace

std::string render_daemons(const json& rows) {
  if (!rows.is_array() || rows.empty()) {
    return "no daemons are configured ([daemons.<name>] in the configuration)\n";
  }
  std::string out;
  for (const auto& d : rows) {
    out += line_of(d);
  }
  return out;
}

daemons_command::daemons_command(CLI::App& app)
    : cmd_(app.add_subcommand("daemons", "Show the supervised OS programs ([daemons.<name>])")) {
  restart_ = cmd_->add_subcommand("restart", "Restart a daemon (also a failed one)");
  restart_->add_option("NAME", name_, "The daemon")->required();
  for (auto* c : {cmd_, restart_}) {
    add_device_flags(c, flags_);
    c->add_flag("--json", json_, "Print JSON");
  }
}

int daemons_command::run() {
  auto answer =
      restart_->parsed()
          ? ask_device_json(flags_, "POST", "/v1/daemons/" + url_encode(name_) + "/restart")
          : ask_device_json(flags_, "GET", "/v1/daemons");
  if (!answer) {
    return fail(runtime::describe(answer.error()));
  }
  const auto& doc = *answer;
  if (json_) {
    std::cout << doc.dump(2) << "\n";
  } else if (restart_->parsed()) {
    std::cout << line_of(doc);
  } else {
    std::cout << render_daemons(doc);
  }
  return 0;
}

}  // namespace myelin::tools
