// The text view of `myelin status`: the device, its supervision tree with each
// child's state, restarts and uptime, and its apps.
#pragma once

#include <string>

#include <caf/expected.hpp>

namespace myelin::tools {

/// Renders the body of GET /v1/status (see docs/reference/control-api.md) as
/// the text `myelin status` prints. Fields it does not find are shown as "?"
/// or left out. Errors: the body is not a JSON object.
caf::expected<std::string> render_status(const std::string& body);

/// A duration for people: "850 ms", "12 s", "3 min 4 s", "2 h 5 min", "3 d 4 h".
std::string human_duration(int64_t ms);

}  // namespace myelin::tools
