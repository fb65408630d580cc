// A table of named string properties (vintage_net / Nerves style) that reports
// each change as (name, old value, new value).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace myelin::runtime {

/// One change of a property. An empty value means "absent": the table never
/// stores an empty value, so `old_value` is empty for a new property and
/// `new_value` is empty for a removed one.
struct property_change {
  std::string name;
  std::string old_value;
  std::string new_value;

  bool operator==(const property_change& other) const {
    return name == other.name && old_value == other.old_value && new_value == other.new_value;
  }
};

/// Whether `name` lies under `prefix`: the prefix is empty, equals the name,
/// or is a leading run of whole segments ("interface/eth0" matches
/// "interface/eth0/state" but not "interface/eth01/state"); a prefix ending
/// in '/' matches everything below it.
bool property_matches(const std::string& prefix, const std::string& name);

/// Names ending in one of these hold a list, its items separated by a single
/// space ("addresses", "available_interfaces", "dns").
bool is_list_property(const std::string& name);

/// Property names and values, sorted by name. Not thread-safe: one owner
/// (the net service actor).
class property_table {
 public:
  /// Sets `name` to `value` (an empty value removes it). Returns the change,
  /// or nullopt when the value was already that.
  std::optional<property_change> put(const std::string& name, const std::string& value);

  /// Removes `name`; the change, or nullopt if it was not there.
  std::optional<property_change> remove(const std::string& name);

  /// Replaces every property under `prefix` by `values` (all of whose names
  /// must lie under `prefix`): sets what changed, removes what is gone.
  /// Returns the changes in name order.
  std::vector<property_change> replace(const std::string& prefix,
                                       const std::map<std::string, std::string>& values);

  /// The value of `name`, or empty.
  std::string get(const std::string& name) const;

  /// Every property under `prefix` (see property_matches), sorted by name.
  std::map<std::string, std::string> get_by_prefix(const std::string& prefix) const;

  size_t size() const { return values_.size(); }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace myelin::runtime
