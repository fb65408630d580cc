// The net service: the kernel's network state (rtnetlink through libnl-route)
// as a property table with subscriptions, interface configuration (link up,
// static IPv4, DHCP through a supervised udhcpc), connectivity checks and the
// node name.
//
// Protocol (a request to a service that has no netlink answers from an empty
// table; net_status says why):
//   (net_get_atom, std::string prefix)       -> net_properties   every property under prefix
//   (net_subscribe_atom, std::string prefix) -> net_properties   the current values under prefix;
//        from then on the sender gets (net_change_atom, runtime::property_change) for each change
//        under prefix (old and new value; an empty value is an absent property), in order,
//        until it unsubscribes or ends (it is monitored; dead subscribers are dropped)
//   (net_unsubscribe_atom, std::string prefix) -> caf::unit      (every subscription of the
//        sender with that prefix; unknown ones are not an error)
//   (net_status_atom)                          -> net_status
//   (net_renew_atom, std::string ifname)       -> caf::unit | net_errc::no_such_interface when
//        no udhcpc runs for it (sends SIGUSR1: udhcpc renews its lease)
// Properties (vintage_net names; see docs/networking.md):
//   interface/<if>/{type,state,lower_up,present,mac_address,addresses,gateway,connection},
//   interface/<if>/{dhcp,dns} for DHCP interfaces, available_interfaces, connection,
//   node_name.
// On its own: it logs the node name at start and each time it changes
// ("node name is NAME"). Registered as `net`. Supervised by the core
// supervisor (a worker); it starts even without netlink (status
// "unavailable: <reason>"), and its end stops the udhcpc processes it runs
// (by pid) and joins its reader thread.
#pragma once

#include <map>
#include <string>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/net/net_config.hpp"
#include "myelin/runtime/net/net_snapshot.hpp"
#include "myelin/runtime/net/property_table.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using net_get_atom = caf::atom_constant<caf::atom("netget")>;
using net_subscribe_atom = caf::atom_constant<caf::atom("netsub")>;
using net_unsubscribe_atom = caf::atom_constant<caf::atom("netunsub")>;
using net_change_atom = caf::atom_constant<caf::atom("netchange")>;
using net_status_atom = caf::atom_constant<caf::atom("netstatus")>;
using net_renew_atom = caf::atom_constant<caf::atom("netrenew")>;
/// Internal: a line from the udhcpc script's FIFO (reader thread -> service).
using net_dhcp_atom = caf::atom_constant<caf::atom("netdhcp")>;

inline constexpr caf::atom_value net_registry_name = caf::atom("net");

/// Property name -> value, sorted.
using net_properties = std::map<std::string, std::string>;

/// What the net service reports about itself.
struct net_status {
  /// "ok"; "unavailable: <reason>" when rtnetlink cannot be used; "config
  /// error: <why>" when the [net] section was refused (observing only).
  std::string status;
  std::string node_name;
  /// The interfaces the configuration manages (the others are only observed).
  std::vector<std::string> configured;
  /// Live subscriptions (one per subscribe request not yet withdrawn).
  uint64_t subscriptions = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, net_status& x) {
  return f(caf::meta::type_name("net_status"), x.status, x.node_name, x.configured,
           x.subscriptions);
}

/// What the net service needs.
struct net_options {
  runtime::net_config config;
  /// The udhcpc script and its FIFO live in <state_dir>/net.
  std::string state_dir;
  /// Why the [net] section was refused (the service then only observes and
  /// reports "config error: <why>"), empty if it was not.
  std::string config_error;
};

/// Reads the [net] section. Never fails: a section that
/// runtime::net_config_from refuses (the error names the key) gives the
/// observe-only defaults and `config_error`, so that a typo in a network
/// setting cannot take the device's control channel down with it.
net_options net_options_from(const runtime::config& cfg, const std::string& state_dir);

/// A start function for the net service.
supervisors::start_fn net_start(net_options opts);

}  // namespace myelin::actors

namespace myelin::runtime {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, property_change& x) {
  return f(caf::meta::type_name("property_change"), x.name, x.old_value, x.new_value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_state& x) {
  return f(caf::meta::type_name("link_state"), x.index, x.name, x.type, x.mac_address, x.admin_up,
           x.lower_up, x.addresses, x.ipv4, x.gateway);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, net_snapshot& x) {
  return f(caf::meta::type_name("net_snapshot"), x.links);
}

}  // namespace myelin::runtime
