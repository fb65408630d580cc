// Connectivity of an interface and of the device: disconnected, lan (an
// address), internet (a TCP check succeeded), and the TCP check itself.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "myelin/runtime/net/net_config.hpp"
#include "myelin/runtime/net/net_snapshot.hpp"
#include "myelin/runtime/platform/stop_signal.hpp"

namespace myelin::runtime {

/// Ordered: a better connection compares greater.
enum class connection : uint8_t { disconnected, lan, internet };

std::string to_string(connection c);

/// Whether the internet check should run through `link`: it carries a
/// connection (up, carrier, a global IPv4 address) and is not loopback.
bool link_can_connect(const link_state& link);

/// The connection of one link: disconnected unless link_can_connect; lan
/// with an address; internet when the last check through it succeeded.
connection connection_of(const link_state& link, bool internet_ok);

/// The device's connection: the best of its links' (disconnected if none).
connection best_connection(const std::vector<connection>& links);

/// Tries a TCP connection to each of `hosts` in turn through `ifname`
/// (SO_BINDTODEVICE where permitted, else from `source_ipv4`), each within
/// `timeout`; true as soon as one connects. Blocks: call it off the actor
/// scheduler. IPv4 and IPv6 targets; host names are resolved by the system
/// resolver.
/// When `stop` fires, it gives up at once (false), whether it is waiting for
/// a connection or for the resolver: a device that stops never waits for
/// the check.
bool tcp_check(const std::vector<host_port>& hosts, std::chrono::milliseconds timeout,
               const std::string& ifname, const std::string& source_ipv4,
               const stop_signal* stop = nullptr);

}  // namespace myelin::runtime
