// The device property table built from uevents, as Nerves keeps it.
//
// Plain standard C++ (no CAF, no third-party headers) like uevent_parser.hpp,
// so the fuzz target exercises parser and table together.
//
// Rules (Nerves.Runtime's UEvent handling, REFERENCE.md "Linux event and log
// formats"):
//   - the key is the devpath's segments: /devices/virtual/net/lo is
//     {"devices", "virtual", "net", "lo"}; prefix queries match whole segments;
//   - events whose devpath is not under /devices are ignored;
//   - the properties are the event's entries without ACTION, DEVPATH and
//     SEQNUM, keys lowercased (DEVPATH_OLD of a move is dropped too);
//   - add, change and any other action (bind, unbind, online, offline) replace
//     the device's properties;
//   - remove deletes the device and everything below it (a device's children
//     cannot outlive it; their own remove events may have been lost);
//   - move (DEVPATH_OLD -> DEVPATH) re-keys the device and everything below it
//     (sysfs renames the whole directory) and then stores the new properties.
// Not thread-safe: one owner (the uevent actor).
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "myelin/runtime/uevent/uevent_parser.hpp"

namespace myelin::runtime {

/// The properties of one device: lowercase keys.
using uevent_properties = std::map<std::string, std::string>;

/// What applying an event did to the table.
enum class uevent_table_change : uint8_t {
  /// The event is not under /devices; nothing changed.
  ignored,
  /// The device was added or its properties replaced.
  stored,
  /// The device (and its descendants) were removed; `removed` says how many.
  removed,
  /// The device moved (with its descendants) and its properties were stored.
  moved,
};

/// The property table.
class uevent_table {
 public:
  using key = std::vector<std::string>;

  /// One device of a query.
  struct row {
    std::string devpath;
    const uevent_properties* properties = nullptr;
  };

  /// Applies one parsed event. `removed` (optional) receives how many entries
  /// a remove or move deleted.
  uevent_table_change apply(const uevent& ev, size_t* removed = nullptr);

  /// Replaces the whole table (a re-scan of sysfs).
  void replace(std::map<key, uevent_properties> contents) { rows_ = std::move(contents); }

  /// The properties of `devpath`, or nullptr.
  const uevent_properties* find(std::string_view devpath) const;

  /// Every device whose devpath starts with the segments of `prefix` (all
  /// devices for "" or "/"), in devpath order.
  std::vector<row> with_prefix(std::string_view prefix) const;

  size_t size() const { return rows_.size(); }

  const std::map<key, uevent_properties>& contents() const { return rows_; }

  /// The properties the table stores for an event: its entries without
  /// ACTION, DEVPATH, DEVPATH_OLD and SEQNUM, keys lowercased.
  static uevent_properties properties_of(const uevent& ev);

  /// "/devices/virtual/net/lo" for {"devices", "virtual", "net", "lo"}.
  static std::string devpath_of(const key& k);

  /// True if `prefix`'s segments are a (segment-wise) prefix of `devpath`'s.
  static bool has_prefix(std::string_view devpath, std::string_view prefix);

 private:
  /// Erases `k` and every key below it; returns how many.
  size_t erase_subtree(const key& k);

  std::map<key, uevent_properties> rows_;
};

}  // namespace myelin::runtime
