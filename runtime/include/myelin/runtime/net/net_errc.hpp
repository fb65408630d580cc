// Errors of the network service's platform code (rtnetlink, udhcpc, events).
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>

namespace myelin::runtime {

/// Error codes of category "net"; the context string says what and why.
enum class net_errc : uint8_t {
  /// rtnetlink cannot be used here (no socket, no permission to read).
  unavailable = 1,
  /// The kernel refused a change (permission, bad address, ...).
  netlink_failed,
  /// No interface of that name.
  no_such_interface,
  /// udhcpc could not be started.
  spawn_failed,
  /// A DHCP event line that does not parse.
  bad_event,
};

std::string to_string(net_errc x);

caf::error make_error(net_errc x, std::string context);

}  // namespace myelin::runtime
