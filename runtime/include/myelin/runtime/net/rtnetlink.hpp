// rtnetlink through libnl-route: reads links, addresses and default routes,
// watches for changes, and configures links (up, IPv4 addresses, default route).
#pragma once

#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "myelin/runtime/net/net_snapshot.hpp"

namespace myelin::runtime {

/// Two netlink route sockets: one subscribed to link, address and route
/// changes (its fd is polled by the caller), one for queries and changes.
/// Not thread-safe: the event side (event_fd, drain_events) and the query
/// side (snapshot, changes) may each be used by one thread.
class rtnetlink {
 public:
  ~rtnetlink();
  rtnetlink(const rtnetlink&) = delete;
  rtnetlink& operator=(const rtnetlink&) = delete;

  /// Opens both sockets and subscribes. Error: net_errc::unavailable with
  /// the reason (e.g. "netlink socket: Permission denied").
  static caf::expected<std::unique_ptr<rtnetlink>> open();

  /// The subscribed socket's fd: readable when something changed.
  int event_fd() const;

  /// Reads and discards every pending event. Returns false if the kernel
  /// dropped events (ENOBUFS: a snapshot is then the only truth).
  bool drain_events();

  /// Reads the current state of every link.
  caf::expected<net_snapshot> snapshot();

  /// Sets IFF_UP (or clears it) on `ifname`.
  caf::error set_link_up(const std::string& ifname, bool up);

  /// Adds "ADDRESS/PREFIX" (IPv4) to `ifname`, with its broadcast address;
  /// an address already there is not an error.
  caf::error add_ipv4(const std::string& ifname, const std::string& address, int prefix);

  /// Removes an IPv4 address; one already gone is not an error.
  caf::error remove_ipv4(const std::string& ifname, const std::string& address, int prefix);

  /// Adds a default route through `ifname` via `gateway` (an existing one is
  /// not an error).
  caf::error add_default_route(const std::string& ifname, const std::string& gateway);

  /// Removes every IPv4 default route through `ifname`.
  caf::error remove_default_routes(const std::string& ifname);

 private:
  struct impl;
  explicit rtnetlink(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace myelin::runtime
