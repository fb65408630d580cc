// The network configuration ([net] and [net.interfaces.<name>]), checked
// beyond the schema: addresses, prefixes, gateways, host:port lists.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "myelin/runtime/config/config.hpp"

namespace myelin::runtime {

/// How an interface gets its IPv4 address.
enum class address_method : uint8_t {
  /// Brought up (if `up`), but no address is configured by myelin.
  none,
  /// `address`/`prefix` (and a default route via `gateway` when set).
  static_ipv4,
  /// udhcpc, supervised by the net service.
  dhcp,
};

std::string to_string(address_method m);

/// One `[net.interfaces.<name>]` table.
struct interface_config {
  std::string name;
  address_method method = address_method::none;
  /// Set IFF_UP at start.
  bool up = true;
  std::string address;
  int prefix = 24;
  std::string gateway;
};

/// A TCP endpoint of the internet check.
struct host_port {
  std::string host;
  uint16_t port = 0;
};

/// The whole `[net]` section.
struct net_config {
  /// Only these interfaces are configured; every other one is only observed.
  std::vector<interface_config> interfaces;
  /// The internet check: a TCP connect to any of these that succeeds.
  std::vector<host_port> internet_hosts;
  std::chrono::milliseconds check_interval{30000};
  std::chrono::milliseconds check_timeout{3000};
  /// The part of the node name before '@' (net.node_name_prefix, else device.name).
  std::string node_name_prefix = "myelin";
  /// Where the primary address is looked for first, in order.
  std::vector<std::string> primary_interfaces;
  /// The udhcpc binary.
  std::string udhcpc = "udhcpc";
  /// Delay before a dead udhcpc is started again.
  std::chrono::milliseconds dhcp_restart_delay{1000};
};

/// Whether `text` is a dotted-quad IPv4 address (four decimal octets, no
/// leading zeros beyond "0", nothing else).
bool is_ipv4(const std::string& text);

/// Whether `name` can be a Linux interface name (1-15 characters, no '/',
/// ':', whitespace or control characters, not "." or "..").
bool is_interface_name(const std::string& name);

/// Parses "HOST:PORT" (HOST an IPv4 address or a host name, "[IPV6]:PORT").
/// Error: config_errc::invalid_value naming `key`.
caf::expected<host_port> parse_host_port(const std::string& text, const std::string& key);

/// Reads the [net] section. Errors (config_errc::invalid_value, the context
/// naming the key): an interface name Linux would refuse, a static method
/// without a valid address, an invalid address, gateway or host:port, an
/// address on an interface whose method is not static.
caf::expected<net_config> net_config_from(const config& cfg);

}  // namespace myelin::runtime
