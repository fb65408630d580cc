// An SNTP client (RFC 4330): one request to one server, the reply checked
// against spoofing and unsynchronised servers, the clock's offset computed.
// Blocking (DNS, the round trip): the time service runs it on a thread of
// its own.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Error codes of category "time".
enum class time_errc : uint8_t {
  /// The name does not resolve, nothing answered in time, the socket failed.
  unreachable = 1,
  /// A reply that is not an NTP server's answer to our request.
  bad_reply,
  /// The server says it is not synchronised (stratum 0/16, a kiss-o'-death,
  /// leap indicator 3).
  unsynchronized,
};

std::string to_string(time_errc x);

caf::error make_error(time_errc x, std::string context);

/// One good exchange.
struct sntp_sample {
  /// Add to the local clock to get the server's, microseconds.
  int64_t offset_us = 0;
  /// The round trip without the server's processing, microseconds.
  int64_t delay_us = 0;
  int stratum = 0;
  /// "host:port" as asked.
  std::string server;
};

/// The NTP timestamp (seconds since 1900 << 32 | fraction) of a Unix time in
/// microseconds, and back.
uint64_t ntp_timestamp(int64_t unix_us);
int64_t unix_us_of(uint64_t ntp);

/// Checks a reply to a request whose transmit timestamp was `sent` and
/// computes the sample (t4_us: when it arrived, by the local clock).
/// Errors: bad_reply, unsynchronized.
caf::expected<sntp_sample> parse_sntp_reply(const unsigned char* data, size_t size, uint64_t sent,
                                            int64_t t4_us);

/// Asks `server` ("host", "host:port" or "[v6]:port"; port 123 by default).
/// Errors: unreachable, bad_reply, unsynchronized.
caf::expected<sntp_sample> sntp_query(const std::string& server, std::chrono::milliseconds timeout);

}  // namespace myelin::runtime
