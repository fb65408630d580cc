// `myelin status`: where the device keeps its state (GET /v1/app-partition).
#include "cli_app_partition.hpp"

#include <nlohmann/json.hpp>

namespace myelin::tools {

void print_app_partition_line(const device_address& dev, std::ostream& out) {
  auto body = get(dev, "/v1/app-partition");
  if (!body) {
    return;
  }
  auto doc = nlohmann::json::parse(*body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("summary") ||
      !doc["summary"].is_string()) {
    return;
  }
  out << "storage:  " << doc["summary"].get<std::string>();
  if (doc.value("erased", false)) {
    out << " (erased by a factory reset: reformatted at the next boot)";
  }
  out << "\n";
}

}  // namespace myelin::tools
