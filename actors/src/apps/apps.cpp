// Errors of the app manager's protocol.
#include "myelin/actors/apps.hpp"

#include <caf/make_message.hpp>

namespace myelin::actors {

std::string to_string(app_errc x) {
  switch (x) {
    case app_errc::module_refused:
      return "module_refused";
    case app_errc::start_failed:
      return "start_failed";
    case app_errc::crashed:
      return "crashed";
    case app_errc::exited:
      return "exited";
    case app_errc::missed_heartbeat:
      return "missed_heartbeat";
    case app_errc::unknown_app:
      return "unknown_app";
    case app_errc::not_running:
      return "not_running";
    case app_errc::command_failed:
      return "command_failed";
    case app_errc::protocol_violation:
      return "protocol_violation";
  }
  return "app_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(app_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("app"),
                    caf::make_message(std::move(context))};
}

}  // namespace myelin::actors
