// Multicast DNS on the wire: the responder's socket on port 5353 (joined to
// 224.0.0.251 per interface, answers sent out the interface they belong to),
// the interfaces it can run on, and the one-shot querier the laptop's tools
// use (RFC 6762 §5.1: a query from an ephemeral port, answered unicast).
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "myelin/runtime/mdns/mdns_zone.hpp"

namespace myelin::runtime::mdns {

enum class mdns_errc : uint8_t {
  /// A socket call failed (the context says which and why).
  socket_error = 1,
  /// No interface is up, multicast-capable and has an IPv4 address.
  no_interface,
  /// Nothing answered for the name within the time given.
  not_found,
};

std::string to_string(mdns_errc x);

caf::error make_error(mdns_errc x, std::string context);

/// An interface multicast DNS runs on.
struct mdns_interface {
  int index = 0;
  std::string name;
  std::vector<ipv4_address> addresses;
};

/// The interfaces that are up and multicast-capable, with their IPv4
/// addresses (possibly none yet: a DHCP client still asking). `only`
/// non-empty: just the interfaces it names (then loopback too, if named);
/// empty: every one but loopback.
std::vector<mdns_interface> multicast_interfaces(const std::vector<std::string>& only = {});

/// The responder's socket: UDP 0.0.0.0:5353 (shared with other responders
/// by SO_REUSEADDR), TTL 255, its own packets not looped back.
class mdns_socket {
 public:
  struct datagram {
    std::vector<uint8_t> bytes;
    sockaddr_in from{};
    /// The interface it came in on.
    int ifindex = 0;
    /// It was larger than dns::max_message_bytes (cut: to be refused).
    bool oversized = false;
  };

  mdns_socket() = default;
  ~mdns_socket();
  mdns_socket(mdns_socket&& other) noexcept;
  mdns_socket& operator=(mdns_socket&& other) noexcept;
  mdns_socket(const mdns_socket&) = delete;
  mdns_socket& operator=(const mdns_socket&) = delete;

  /// Binds `port` (5353; another in tests). Errors: socket_error.
  static caf::expected<mdns_socket> open(uint16_t port = mdns_port);

  /// Joins the group on the interface; joining again is not an error (a
  /// membership the kernel dropped with a vanished interface is made anew).
  caf::error join(int ifindex);
  /// Leaves the group on the interface (errors ignored: it may be gone).
  void leave(int ifindex);

  /// Sends `bytes` out interface `ifindex`, to the group, or to `to`.
  caf::error send(const std::vector<uint8_t>& bytes, int ifindex,
                  const sockaddr_in* to = nullptr) const;

  /// The next datagram, nullopt when none is waiting (never blocks).
  std::optional<datagram> receive() const;

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  uint16_t port_ = mdns_port;
};

/// A device heard by the querier.
struct found_device {
  /// The service instance (its label) and the host (NAME.local).
  std::string instance;
  std::string host;
  /// Its IPv4 address (dotted) and the SRV's port (0: no SRV heard).
  std::string address;
  uint16_t port = 0;
  std::map<std::string, std::string> txt;
  /// The interface it answered on.
  std::string interface;
};

/// Options of the querier.
struct query_options {
  /// How long to listen.
  std::chrono::milliseconds wait{1500};
  /// The interfaces to ask on (empty: every multicast one but loopback).
  std::vector<std::string> interfaces;
  /// Where to ask: the group on port 5353 (tests: another port).
  uint16_t port = mdns_port;
};

/// Lists the devices announcing `service` (_myelin._tcp.local): asks on every
/// interface, listens for `wait`, and returns what answered, sorted by
/// instance. Errors: no_interface, socket_error.
caf::expected<std::vector<found_device>> browse(const query_options& opts,
                                                const std::string& service = myelin_service);

/// Resolves NAME.local (and its _myelin._tcp service, for the port): returns
/// as soon as the address (and the port, or 150 ms more without one) is
/// known. Errors: not_found naming the interfaces asked, no_interface,
/// socket_error.
caf::expected<found_device> resolve(const std::string& name, const query_options& opts);

/// Whether `host` is a name multicast DNS resolves (ends in ".local").
bool is_local_name(const std::string& host);

}  // namespace myelin::runtime::mdns
