// One syslog datagram as processes send it to /dev/log, and its parser.
// Plain standard C++ (no CAF, no third-party headers): the fuzz target `syslog`
// builds this file alone with clang.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace myelin::runtime {

/// A parsed syslog datagram. Accepted shapes (what glibc's syslog(3),
/// busybox `logger` and RFC 5424 senders write):
///   <PRI>Mmm dd hh:mm:ss ident[pid]: message
///   <PRI>ident[pid]: message     <PRI>ident: message     <PRI>message
///   <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] message   (RFC 5424)
/// PRI is 0..191: facility = PRI / 8, severity = PRI % 8.
struct syslog_message {
  /// The PRI as sent; 13 (user.notice, RFC 3164 4.3.3) when it was missing
  /// or invalid.
  int priority = 13;
  /// The header timestamp as sent (no year, no zone in RFC 3164), empty if
  /// none. Records are stamped with the time they arrive, not with this.
  std::string timestamp;
  /// RFC 5424 HOSTNAME; empty otherwise.
  std::string hostname;
  /// The tag / APP-NAME (e.g. "sshd"), empty if the datagram has none.
  std::string ident;
  /// The process id in brackets / PROCID, empty if none.
  std::string pid;
  /// The text, without trailing newlines and NULs. For a malformed datagram:
  /// the whole datagram as received (minus those).
  std::string message;
  /// Why the datagram is malformed (no or bad <PRI>, empty), or empty when
  /// it is well-formed. A malformed datagram is still returned, as raw text.
  std::string error;

  int severity() const { return priority % 8; }
  int facility() const { return priority / 8; }
};

/// Longest ident accepted as a tag (RFC 3164 says 32; real programs exceed it).
inline constexpr size_t syslog_max_ident = 64;

/// Parses one datagram. Never fails: see syslog_message::error.
syslog_message parse_syslog_message(std::string_view datagram);

}  // namespace myelin::runtime
