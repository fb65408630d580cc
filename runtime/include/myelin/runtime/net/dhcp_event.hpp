// udhcpc's events as the net service receives them: the script udhcpc runs
// (-s) writes one line per event to a FIFO; this parses such a line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace myelin::runtime {

/// One event of udhcpc (busybox): what happened, and for bound/renew the lease.
struct dhcp_event {
  /// deconfig | bound | renew | leasefail | nak
  std::string kind;
  std::string interface;
  /// bound/renew: the leased IPv4 address and its prefix length.
  std::string ip;
  int prefix = 0;
  /// The routers and DNS servers offered (IPv4 addresses), possibly none.
  std::vector<std::string> routers;
  std::vector<std::string> dns;
  /// Lease time in seconds (0 if not given).
  int64_t lease_s = 0;
};

/// Longest event line accepted (a pipe write of at most PIPE_BUF is atomic).
inline constexpr size_t max_dhcp_event_line = 1024;

/// Parses one line written by udhcpc_script(): space-separated KEY=VALUE
/// fields `event interface ip mask subnet router dns lease`, lists
/// comma-separated. Unknown keys are ignored; every value given is checked
/// (DHCP options come from the network: never trust them). Error:
/// net_errc::bad_event saying which field is wrong.
caf::expected<dhcp_event> parse_dhcp_event(const std::string& line);

/// The text of the script udhcpc runs at each event: it writes one line
/// to `fifo` and exits 0. Only `fifo` is baked in; it is single-quoted, so
/// it must not contain a single quote (the caller's state directory).
std::string udhcpc_script(const std::string& fifo);

/// The prefix length of a dotted-quad netmask ("255.255.255.0" -> 24), or -1
/// if it is not a contiguous mask.
int netmask_prefix(const std::string& mask);

}  // namespace myelin::runtime
