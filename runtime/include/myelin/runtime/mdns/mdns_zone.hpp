// What a device says about itself over multicast DNS (RFC 6762) and DNS-SD
// (RFC 6763), and how it answers a query — pure functions of the zone, the
// addresses of the interface a query came in on, and the query.
//
// The zone of a device named `host` with instance `inst`:
//   host.local                         A    each IPv4 address of the interface   (unique)
//   _myelin._tcp.local                 PTR  inst._myelin._tcp.local               (shared)
//   inst._myelin._tcp.local            SRV  0 0 <control port> host.local         (unique)
//   inst._myelin._tcp.local            TXT  serial=… version=… product=… …        (unique)
//   _services._dns-sd._udp.local       PTR  _myelin._tcp.local                    (shared)
// plus, for each further service (e.g. _ssh._tcp), its PTR/SRV/TXT the same way.
// Unique records carry the cache-flush bit in multicast answers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "myelin/runtime/mdns/dns_message.hpp"

namespace myelin::runtime::mdns {

inline constexpr uint16_t mdns_port = 5353;
inline constexpr const char* mdns_group = "224.0.0.251";
inline constexpr const char* myelin_service = "_myelin._tcp.local";
inline constexpr const char* services_meta = "_services._dns-sd._udp.local";
/// RFC 6762 §6.7: TTLs in answers to legacy (one-shot) queriers.
inline constexpr uint32_t legacy_ttl = 10;

using ipv4_address = std::array<uint8_t, 4>;

/// One DNS-SD service of the device.
struct mdns_service {
  /// "_myelin._tcp.local".
  std::string type;
  uint16_t port = 0;
  std::vector<std::string> txt;
};

struct mdns_zone {
  /// The host label: `host`.local. Empty: nothing is announced.
  std::string host;
  /// The service instance label (DNS-SD allows spaces and dots).
  std::string instance;
  std::vector<mdns_service> services;
  /// TTLs: of the address and SRV records (RFC 6762 §10: 120 s), and of the
  /// others (75 minutes).
  uint32_t host_ttl = 120;
  uint32_t other_ttl = 4500;
};

/// `host`.local.
std::string host_name(const mdns_zone& z);
/// `instance`.`type`.
std::string instance_name(const mdns_zone& z, const mdns_service& s);

/// `name` made a valid host label: letters, digits and '-' kept, anything
/// else '-', at most 63 bytes, never empty ("myelin").
std::string host_label(const std::string& name);

/// Every record of the zone for an interface with `addresses` (TTL 0 when
/// `goodbye`: RFC 6762 §10.1).
std::vector<dns::record> zone_records(const mdns_zone& z,
                                      const std::vector<ipv4_address>& addresses,
                                      bool goodbye = false);

/// The unsolicited response that announces the zone (or says goodbye).
dns::message announcement(const mdns_zone& z, const std::vector<ipv4_address>& addresses,
                          bool goodbye = false);

/// How to send an answer.
enum class reply_route : uint8_t {
  /// To the group on the interface the query came in on.
  multicast,
  /// To the asker's address and port.
  unicast,
};

struct reply {
  dns::message message;
  reply_route route = reply_route::multicast;
};

/// The answer to `query` from an interface with `addresses`, or nullopt when
/// the zone holds nothing it asks for (or the asker already knows it all).
/// `legacy`: the asker's source port is not 5353 (RFC 6762 §6.7: answered
/// unicast, with its id and questions, short TTLs, no cache-flush bits).
/// Known answers in the query with at least half our TTL left are left out
/// (§7.1); QU questions are answered unicast (§5.4).
std::optional<reply> answer_query(const mdns_zone& z, const std::vector<ipv4_address>& addresses,
                                  const dns::message& query, bool legacy);

/// Whether `response` (from another host) claims our host name with an
/// address that is not ours: the address it claims, else nullopt.
std::optional<ipv4_address> conflicting_address(const mdns_zone& z,
                                                const std::vector<ipv4_address>& ours,
                                                const dns::message& response);

}  // namespace myelin::runtime::mdns
