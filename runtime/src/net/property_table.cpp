// The property table of the net service.
#include "myelin/runtime/net/property_table.hpp"

namespace myelin::runtime {

bool property_matches(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) {
    return true;
  }
  if (name.compare(0, prefix.size(), prefix) != 0) {
    return false;
  }
  return name.size() == prefix.size() || prefix.back() == '/' || name[prefix.size()] == '/';
}

bool is_list_property(const std::string& name) {
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() &&
           name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("addresses") || ends_with("available_interfaces") || ends_with("/dns");
}

std::optional<property_change> property_table::put(const std::string& name,
                                                   const std::string& value) {
  if (value.empty()) {
    return remove(name);
  }
  auto i = values_.find(name);
  if (i == values_.end()) {
    values_.emplace(name, value);
    return property_change{name, "", value};
  }
  if (i->second == value) {
    return std::nullopt;
  }
  property_change c{name, i->second, value};
  i->second = value;
  return c;
}

std::optional<property_change> property_table::remove(const std::string& name) {
  auto i = values_.find(name);
  if (i == values_.end()) {
    return std::nullopt;
  }
  property_change c{name, i->second, ""};
  values_.erase(i);
  return c;
}

std::vector<property_change> property_table::replace(
    const std::string& prefix, const std::map<std::string, std::string>& values) {
  std::vector<property_change> changes;
  std::vector<std::string> gone;
  for (const auto& [name, value] : get_by_prefix(prefix)) {
    if (values.count(name) == 0) {
      gone.push_back(name);
    }
  }
  for (const auto& name : gone) {
    if (auto c = remove(name)) {
      changes.push_back(std::move(*c));
    }
  }
  for (const auto& [name, value] : values) {
    if (auto c = put(name, value)) {
      changes.push_back(std::move(*c));
    }
  }
  std::sort(changes.begin(), changes.end(),
            [](const property_change& a, const property_change& b) { return a.name < b.name; });
  return changes;
}

std::string property_table::get(const std::string& name) const {
  auto i = values_.find(name);
  return i == values_.end() ? std::string{} : i->second;
}

std::map<std::string, std::string> property_table::get_by_prefix(const std::string& prefix) const {
  std::map<std::string, std::string> out;
  // Every match starts with `prefix`, so the scan starts at its lower bound.
  for (auto i = values_.lower_bound(prefix); i != values_.end(); ++i) {
    if (i->first.compare(0, prefix.size(), prefix) != 0) {
      break;
    }
    if (property_matches(prefix, i->first)) {
      out.insert(*i);
    }
  }
  return out;
}

}  // namespace myelin::runtime
