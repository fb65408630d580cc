// DNS messages as multicast DNS uses them (RFC 1035 wire format, RFC 6762's
// cache-flush and unicast-response bits): a strict parser for what arrives
// from the network and a writer with name compression.
//
// The parser trusts nothing: every length is checked against the packet,
// compression pointers must point backwards (no loops), names are at most
// 255 bytes and labels 63, and a message holds at most max_records records.
// A label holding '.' or '\' is written escaped ("\." and "\\") in the
// dotted names, so that every name round-trips.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime::dns {

/// Why a message was refused.
enum class dns_errc : uint8_t {
  /// The packet ends inside the header, a name, a question or a record.
  truncated = 1,
  /// A label over 63 bytes, a name over 255, or a reserved label type.
  bad_name,
  /// A compression pointer that does not point backwards into the packet.
  bad_pointer,
  /// More than max_records questions and records, or a packet over
  /// max_message_bytes.
  oversized,
  /// Record data that does not fit its type (an A record not 4 bytes, ...).
  bad_rdata,
};

std::string to_string(dns_errc x);

caf::error make_error(dns_errc x, std::string context);

namespace rr {
inline constexpr uint16_t a = 1;
inline constexpr uint16_t ptr = 12;
inline constexpr uint16_t txt = 16;
inline constexpr uint16_t aaaa = 28;
inline constexpr uint16_t srv = 33;
inline constexpr uint16_t nsec = 47;
inline constexpr uint16_t any = 255;
}  // namespace rr

inline constexpr uint16_t class_in = 1;
/// The largest packet accepted or written (RFC 6762 §17: 9000 bytes).
inline constexpr size_t max_message_bytes = 9000;
/// Questions and records of one message, together.
inline constexpr size_t max_records = 256;
/// Header flags.
inline constexpr uint16_t flag_response = 0x8000;
inline constexpr uint16_t flag_authoritative = 0x0400;

struct question {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = class_in;
  /// The top bit of the class: the asker prefers a unicast answer (QU).
  bool unicast_response = false;
};

struct record {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = class_in;
  /// The top bit of the class: the record replaces what caches hold.
  bool cache_flush = false;
  uint32_t ttl = 0;
  /// A / AAAA.
  std::array<uint8_t, 4> ipv4{};
  std::array<uint8_t, 16> ipv6{};
  /// PTR and SRV: the name pointed to.
  std::string target;
  /// SRV.
  uint16_t priority = 0;
  uint16_t weight = 0;
  uint16_t port = 0;
  /// TXT: the strings ("key=value").
  std::vector<std::string> txt;
  /// Any other type: the data as received (written as is).
  std::vector<uint8_t> raw;
};

struct message {
  uint16_t id = 0;
  uint16_t flags = 0;
  std::vector<question> questions;
  std::vector<record> answers;
  std::vector<record> authorities;
  std::vector<record> additionals;

  bool is_response() const { return (flags & flag_response) != 0; }
};

/// Parses one packet. Errors: dns_errc, naming what is wrong and where.
caf::expected<message> parse(const uint8_t* data, size_t size);

/// Writes `m` (names compressed). Errors: oversized past max_message_bytes,
/// bad_name for a name that cannot be written.
caf::expected<std::vector<uint8_t>> serialize(const message& m);

/// DNS names compare without regard to ASCII case.
bool same_name(std::string_view a, std::string_view b);

/// `label` escaped for a dotted name ('.' -> "\.", '\' -> "\\").
std::string escape_label(std::string_view label);

/// "a.b.c" -> {"a", "b", "c"}, honouring escapes. Errors: bad_name (an empty
/// label, one over 63 bytes, a name over 255).
caf::expected<std::vector<std::string>> split_name(std::string_view name);

/// The dotted quad of an A record.
std::string format_ipv4(const std::array<uint8_t, 4>& a);

}  // namespace myelin::runtime::dns
