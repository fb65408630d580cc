// What the kernel reports about the network at one moment: links, their
// addresses and default gateways (read through rtnetlink by runtime::rtnetlink).
#pragma once

#include <string>
#include <vector>

namespace myelin::runtime {

/// One network interface.
struct link_state {
  int index = 0;
  std::string name;
  /// "ethernet", "wifi", "loopback", or the kernel's link kind ("veth", "bridge", ...).
  std::string type;
  /// "aa:bb:cc:dd:ee:ff", empty when the link has none.
  std::string mac_address;
  /// IFF_UP: administratively up.
  bool admin_up = false;
  /// IFF_LOWER_UP: the carrier is there.
  bool lower_up = false;
  /// Every address as "ADDRESS/PREFIX", IPv4 first, in the kernel's order.
  std::vector<std::string> addresses;
  /// The IPv4 addresses of global scope, without prefix (what makes a LAN connection).
  std::vector<std::string> ipv4;
  /// The gateway of an IPv4 default route through this link, empty if none.
  std::string gateway;
};

/// Every link, sorted by name.
struct net_snapshot {
  std::vector<link_state> links;

  const link_state* find(const std::string& name) const {
    for (const auto& l : links) {
      if (l.name == name) {
        return &l;
      }
    }
    return nullptr;
  }
};

}  // namespace myelin::runtime
