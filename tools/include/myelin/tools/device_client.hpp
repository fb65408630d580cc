// A client of a running device's control channel (HTTP/1.1 + JSON).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::tools {

/// Errors talking to a device.
enum class client_errc : uint8_t {
  /// HOST:PORT could not be parsed.
  bad_address = 1,
  /// No connection (device down, wrong port, refused).
  unreachable,
  /// The device answered with an error status.
  request_failed,
  /// The device answered something that is not the expected JSON.
  bad_response,
};

std::string to_string(client_errc x);

caf::error make_error(client_errc x, std::string context);

/// Where a device's control channel is.
struct device_address {
  std::string host = "127.0.0.1";
  uint16_t port = 4848;
  /// HTTPS when `ca` is set: the device's certificate must be signed by `ca`,
  /// and we present `cert` / `key`.
  std::string ca;
  std::string cert;
  std::string key;
  /// Where to connect when `host` is a NAME.local that multicast DNS
  /// resolved (empty: `host` itself). `host` stays the name: TLS checks it.
  std::string address;
  /// Whether the text named the port (else an mDNS answer's SRV port wins).
  bool port_given = false;
};

/// The host to connect to: `address` when set, else `host`.
inline const std::string& connect_host(const device_address& dev) {
  return dev.address.empty() ? dev.host : dev.address;
}

/// Fills the TLS files from the arguments, else from $MYELIN_CA, $MYELIN_CERT
/// and $MYELIN_KEY. Errors: a client certificate without its key or CA.
caf::error set_credentials(device_address& dev, std::string ca, std::string cert, std::string key);

/// Parses HOST:PORT, HOST, or [IPV6]:PORT. An empty string gives
/// $MYELIN_DEVICE, else 127.0.0.1:4848. Nothing is resolved.
caf::expected<device_address> parse_device_text(const std::string& text);

/// parse_device_text, then a NAME.local host is resolved by multicast DNS
/// (runtime/mdns: its A record, and the port of its _myelin._tcp service
/// when the text gave none), waiting up to $MYELIN_MDNS_TIMEOUT_MS (default
/// 2000); when no device answers, the system's resolver (nss-mdns, avahi,
/// /etc/hosts) is tried. Errors: bad_address; unreachable when neither
/// knows the name, saying which interfaces were asked.
caf::expected<device_address> parse_device_address(const std::string& text);

/// GET `path` from the device and return the body (JSON text).
caf::expected<std::string> get(const device_address& dev, const std::string& path);

/// Sends `body` (JSON text) with `method` ("POST" or "PUT") and returns the
/// answer's body. A non-2xx answer is request_failed with the device's
/// `error` text; status 404 on a key lookup is how a missing key is reported.
caf::expected<std::string> send(const device_address& dev, const std::string& method,
                                const std::string& path, const std::string& body);

/// POSTs `body` as application/octet-stream (chunked) and returns the HTTP status and
/// the answer's body, whatever the status. Errors: unreachable.
caf::expected<std::pair<int, std::string>> post_bytes(const device_address& dev,
                                                      const std::string& path,
                                                      const std::string& body,
                                                      std::chrono::seconds timeout);

/// The HTTP status of the last failed request in `err` (0 if none).
int http_status(const caf::error& err);

/// Percent-encodes `s` for a URL path segment or query value: everything but
/// RFC 3986's unreserved characters (letters, digits, '-', '.', '_', '~').
std::string url_encode(const std::string& s);

}  // namespace myelin::tools
