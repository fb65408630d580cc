// How the kernel's view of the network becomes the net service's property
// names and values (vintage_net's names), and the node name.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "myelin/runtime/net/connectivity.hpp"
#include "myelin/runtime/net/net_snapshot.hpp"

namespace myelin::runtime {

/// The properties of every link of `snap`, and of every `configured`
/// interface that is missing (present = false):
///   interface/<if>/type         ethernet | wifi | loopback | veth | ...
///   interface/<if>/state        up | down (IFF_UP) | absent
///   interface/<if>/lower_up     true | false (IFF_LOWER_UP, the carrier)
///   interface/<if>/present      true | false
///   interface/<if>/mac_address  aa:bb:cc:dd:ee:ff
///   interface/<if>/addresses    "A/P A/P ..." (IPv4 first)
///   interface/<if>/gateway      the IPv4 default route's gateway through it
///   interface/<if>/connection   disconnected | lan | internet
///   available_interfaces        "<if> <if> ...": links with a connection,
///                               best first, then by primary order, then name
///   connection                  the best of the links' connections
/// `internet` names the links whose last internet check succeeded.
/// Empty values are left out (the table does not store them).
std::map<std::string, std::string> link_properties(const net_snapshot& snap,
                                                   const std::vector<std::string>& configured,
                                                   const std::vector<std::string>& internet,
                                                   const std::vector<std::string>& primary_order);

/// The primary IPv4 address: the first global address of the first link in
/// `primary_order` that has one, else of the first link (by name, not
/// loopback) that has one; empty if none.
std::string primary_address(const net_snapshot& snap,
                            const std::vector<std::string>& primary_order);

/// "<prefix>@<address>", or "<prefix>@127.0.0.1" without an address.
std::string node_name(const std::string& prefix, const std::string& address);

}  // namespace myelin::runtime
