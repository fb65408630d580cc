// The mdns service: announces the device on the LAN by multicast DNS as
// <host>.local with a _myelin._tcp service (DNS-SD) carrying the control
// port, and the serial, product, firmware version and platform in its TXT
// record — so `myelin devices` lists it and `--device <host>.local` reaches
// it (runtime/mdns/). It owns UDP port 5353's responder socket; the network
// state stays the net service's, which it follows.
//
// Protocol:
//   (mdns_status_atom) -> mdns_status
// On its own: a reader thread answers queries from the zone the actor keeps
// current (RFC 6762: unicast to one-shot askers, multicast otherwise, known
// answers suppressed). The actor rebuilds the zone from the host name, the
// console's URL and the kv service's serial and firmware keys, and the
// interfaces (getifaddrs) — when the net service reports any change under
// interface/ (address added or removed, a link up or down, a DHCP client
// restarted), and every mdns.rescan_s; each rescan joins the group again on
// every interface (a membership lost with a vanished interface is made anew),
// and a changed zone or interface is announced twice, a second apart. A
// response from another host claiming our name is logged as a conflict. At
// its end it says goodbye (TTL 0) and joins its thread. Registered as
// `mdns`. Supervised by the core supervisor (a worker, after console); it
// starts when the socket cannot be opened (status "unavailable: <why>") and
// tries again at each rescan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using mdns_status_atom = caf::atom_constant<caf::atom("mdnsstatus")>;
/// Internal: rescan now (round), the second announcement, a conflict heard.
using mdns_rescan_atom = caf::atom_constant<caf::atom("mdnsrescan")>;
using mdns_announce_atom = caf::atom_constant<caf::atom("mdnsannou")>;
using mdns_conflict_atom = caf::atom_constant<caf::atom("mdnsconfl")>;

inline constexpr caf::atom_value mdns_registry_name = caf::atom("mdns");

struct mdns_options {
  bool enabled = false;
  /// The host label; empty: the system's host name (PID 1 sets it from
  /// pid1.hostname_pattern).
  std::string hostname;
  /// The service instance; empty: the host label.
  std::string instance;
  /// Interfaces to run on; empty: every one up with multicast but loopback.
  std::vector<std::string> interfaces;
  uint32_t ttl_s = 120;
  int64_t rescan_s = 30;
  /// The port to bind and announce to (5353; tests may differ).
  uint16_t port = 5353;
};

/// [mdns] of `cfg`; enabled "auto" is on only as a device's PID 1.
mdns_options mdns_options_from(const runtime::config& cfg, bool device_pid1);

struct mdns_status {
  bool enabled = false;
  /// "ok", "off", or "unavailable: <why>".
  std::string state;
  /// <host>.local, the instance, the announced port and TXT strings.
  std::string host;
  std::string instance;
  int64_t port = 0;
  std::vector<std::string> txt;
  /// "eth0 10.0.0.2" (or "eth0 (no IPv4 address)") for each interface.
  std::vector<std::string> interfaces;
  int64_t queries = 0;
  int64_t answers = 0;
  int64_t malformed = 0;
  int64_t announcements = 0;
  int64_t conflicts = 0;
  /// The last conflict: "10.0.0.9 claims NAME.local" (empty: none).
  std::string last_conflict;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, mdns_status& x) {
  return f(caf::meta::type_name("mdns_status"), x.enabled, x.state, x.host, x.instance, x.port,
           x.txt, x.interfaces, x.queries, x.answers, x.malformed, x.announcements, x.conflicts,
           x.last_conflict);
}

supervisors::start_fn mdns_start(mdns_options opts);

}  // namespace myelin::actors
