// One record of the kernel log as read(2) returns it from /dev/kmsg, and its parser.
// Plain standard C++ (no CAF, no third-party headers): the fuzz target `kmsg`
// builds this file alone with clang.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace myelin::runtime {

/// A /dev/kmsg record: `priority,sequence,timestamp_us,flags[,more...];message\n`
/// followed by continuation lines ` KEY=VALUE\n` (the record's dictionary, e.g.
/// ` SUBSYSTEM=net`). See Documentation/ABI/testing/dev-kmsg in the kernel.
struct kmsg_record {
  /// facility * 8 + level, as the kernel wrote it (0..1023 accepted).
  int priority = 0;
  /// Sequence number; a gap between two reads means records were overwritten.
  uint64_t sequence = 0;
  /// Microseconds since boot (the kernel's local clock, CLOCK_MONOTONIC).
  uint64_t timestamp_us = 0;
  /// '-' (a whole record), 'c' (the first fragment of a continued line) or
  /// '+' (a continuation fragment); older kernels only.
  char flags = '-';
  /// The text; the kernel escapes non-printable bytes as \xNN.
  std::string message;
  /// The continuation lines, split at the first '=' (a line without '='
  /// gives an empty value).
  std::vector<std::pair<std::string, std::string>> dictionary;

  /// The syslog severity, 0 (emergency) .. 7 (debug).
  int level() const { return priority & 7; }
  /// The syslog facility: 0 for the kernel itself, 1 (user) for lines
  /// written to /dev/kmsg by processes.
  int facility() const { return priority >> 3; }
};

/// Parses one record. Returns nullopt for anything that is not a record, and
/// then says why in `*error` when given: empty input, no ';', a prefix field
/// that is missing, not a decimal number or out of range, a continuation line
/// that does not start with a space. Trailing newlines are not required.
std::optional<kmsg_record> parse_kmsg_record(std::string_view text, std::string* error = nullptr);

}  // namespace myelin::runtime
