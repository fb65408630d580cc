// Parses kernel uevent messages (NETLINK_KOBJECT_UEVENT) into a uevent.
//
// Plain standard C++ on purpose (no CAF, no third-party headers): the libFuzzer
// target tests/fuzz/uevent_fuzz.cpp is built from this file alone by clang++.
// Errors are therefore a small enum with a detail string instead of caf::error;
// the uevent actor turns them into counted, logged errors.
//
// Kernel format: `ACTION@DEVPATH\0KEY=VALUE\0KEY=VALUE\0...` (every entry ends
// with a NUL). The kernel always sends ACTION, DEVPATH, SUBSYSTEM and SEQNUM
// among the entries; ACTION and DEVPATH must agree with the header.
//
// libudev format (udevd's re-broadcast on netlink group 2; not expected on the
// kernel group, but recognised if seen): the 8-byte prefix "libudev\0", a
// header with magic 0xfeedcafe (network byte order), the header size and the
// offset and length of a `KEY=VALUE\0...` property block that includes ACTION
// and DEVPATH. It is parsed the same way and marked `libudev = true`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace myelin::runtime {

/// Why a message is not a valid uevent.
enum class uevent_errc : uint8_t {
  /// Parsed fine (not an error).
  none = 0,
  /// Zero bytes.
  empty,
  /// Longer than max_uevent_size, or more than max_uevent_entries entries.
  too_large,
  /// The header has no '@' (and the message is not a libudev one).
  no_separator,
  /// The action is empty, too long, or not lowercase letters.
  bad_action,
  /// The devpath is empty, does not start with '/', or has empty, "." or ".."
  /// segments (also for DEVPATH_OLD).
  bad_devpath,
  /// The last byte is not a NUL (the message was cut or is not a uevent).
  not_terminated,
  /// An entry that is not KEY=VALUE: no '=', an empty key, a key with
  /// characters other than [A-Za-z0-9_], an empty entry, or a key sent twice.
  bad_entry,
  /// ACTION or DEVPATH entries that disagree with the header, a move without
  /// DEVPATH_OLD, or a SEQNUM that is not a number.
  inconsistent,
  /// A "libudev" message whose header is short, has the wrong magic or points
  /// outside the message.
  bad_libudev_header,
};

/// A short English name, e.g. "no '@' separator".
std::string to_string(uevent_errc x);

/// Largest message accepted, in bytes (the kernel's environment buffer is
/// 2048 bytes; the header adds at most a devpath).
inline constexpr size_t max_uevent_size = 8192;

/// Most KEY=VALUE entries accepted (the kernel allows 64).
inline constexpr size_t max_uevent_entries = 128;

/// Longest action accepted ("offline" is the longest the kernel sends).
inline constexpr size_t max_uevent_action = 16;

/// One parsed uevent.
struct uevent {
  /// add, remove, change, move, online, offline, bind, unbind.
  std::string action;
  /// e.g. /devices/virtual/net/eth0.
  std::string devpath;
  /// The SUBSYSTEM entry, empty if absent.
  std::string subsystem;
  /// The DEVPATH_OLD entry of a move, empty otherwise.
  std::string devpath_old;
  /// The SEQNUM entry, 0 if absent.
  uint64_t seqnum = 0;
  /// Every KEY=VALUE entry as sent, in order, keys in their original case.
  std::vector<std::pair<std::string, std::string>> entries;
  /// True when the message came in the libudev format.
  bool libudev = false;
};

/// The result of parsing one message: `error == none` and `event`, or the
/// error and a detail saying where (e.g. "entry 3 'FOO' has no '='").
struct uevent_parse_result {
  uevent_errc error = uevent_errc::none;
  std::string detail;
  uevent event;

  bool ok() const { return error == uevent_errc::none; }
};

/// Parses one netlink message of `size` bytes. Never throws on bad input
/// (only std::bad_alloc could escape) and never reads outside [data, data+size).
uevent_parse_result parse_uevent(const char* data, size_t size);

/// Same, for a string_view.
inline uevent_parse_result parse_uevent(std::string_view bytes) {
  return parse_uevent(bytes.data(), bytes.size());
}

/// Splits a devpath into its segments: "/devices/virtual/net/lo" ->
/// {"devices", "virtual", "net", "lo"}. Empty segments are dropped.
std::vector<std::string> devpath_segments(std::string_view devpath);

/// True if `devpath` starts with '/' and has no empty, "." or ".." segment.
bool valid_devpath(std::string_view devpath);

}  // namespace myelin::runtime
