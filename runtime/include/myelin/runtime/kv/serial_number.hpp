// The device serial number: an ordered list of strategies, first success wins
// (Nerves' boardid behaviour), with prefix, keep-rightmost-N, at most 32
// characters, and a defined fallback. Never throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "myelin/runtime/kv/kv_backend.hpp"

namespace myelin::runtime {

/// One way to find the serial number, written in config as a string:
///   `env:KEY`                 the U-Boot environment key KEY
///   `cpuinfo`                 the `Serial` line of /proc/cpuinfo
///   `device_tree`             /proc/device-tree/serial-number
///   `dmi`                     /sys/class/dmi/id/product_serial
///   `mac:IFNAME`              the MAC address of IFNAME, hex digits only
///   `file:PATH[@OFFSET[:LENGTH]]`  bytes of a file (printable text as is,
///                                   binary as lowercase hex)
///   `script:COMMAND`          the first line printed by COMMAND (/bin/sh -c,
///                             2 s time limit)
struct serial_strategy {
  enum class kind : uint8_t { env, cpuinfo, device_tree, dmi, mac, file, script };
  kind how = kind::env;
  /// KEY, IFNAME, PATH or COMMAND.
  std::string arg;
  uint64_t offset = 0;
  /// 0: to the end of the file (at most 64 bytes).
  uint64_t length = 0;
};

/// Parses one strategy. Errors: config_errc::invalid_value naming the text.
caf::expected<serial_strategy> parse_serial_strategy(const std::string& text);

/// Longest serial number produced (Nerves' limit).
inline constexpr size_t max_serial_length = 32;

struct serial_options {
  std::vector<serial_strategy> strategies;
  /// Put in front of the value found (included in the 32 characters).
  std::string prefix;
  /// Keep only the rightmost N characters of the value found; 0 keeps all.
  size_t keep_rightmost = 0;
  /// The serial number when every strategy fails (prefix not added).
  std::string fallback = "00000000";
  /// Where /proc and /sys are found; "/" on a device, a fixture dir in tests.
  std::string root = "/";
  std::chrono::milliseconds script_timeout{2000};
};

/// Which strategy produced the serial number ("fallback" if none).
struct serial_result {
  std::string value;
  std::string source;
};

/// Runs the strategies in order over `env` (the KV contents).
serial_result serial_number(const serial_options& opts, const kv_map& env);

}  // namespace myelin::runtime
