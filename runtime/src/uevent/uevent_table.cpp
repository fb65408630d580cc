// The device property table built from uevents; standard C++ only, see the header.
#include "myelin/runtime/uevent/uevent_table.hpp"

#include <algorithm>

namespace myelin::runtime {

namespace {

bool starts_with(const uevent_table::key& k, const uevent_table::key& prefix) {
  return k.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), k.begin());
}

bool under_devices(const uevent_table::key& k) {
  return !k.empty() && k.front() == "devices";
}

std::string lowercase(std::string s) {
  for (auto& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

}  // namespace

uevent_properties uevent_table::properties_of(const uevent& ev) {
  uevent_properties props;
  for (const auto& [k, v] : ev.entries) {
    if (k == "ACTION" || k == "DEVPATH" || k == "DEVPATH_OLD" || k == "SEQNUM") {
      continue;
    }
    props[lowercase(k)] = v;
  }
  return props;
}

std::string uevent_table::devpath_of(const key& k) {
  std::string out;
  for (const auto& seg : k) {
    out += '/';
    out += seg;
  }
  return out.empty() ? "/" : out;
}

bool uevent_table::has_prefix(std::string_view devpath, std::string_view prefix) {
  return starts_with(devpath_segments(devpath), devpath_segments(prefix));
}

size_t uevent_table::erase_subtree(const key& k) {
  size_t n = 0;
  auto it = rows_.lower_bound(k);
  while (it != rows_.end() && starts_with(it->first, k)) {
    it = rows_.erase(it);
    ++n;
  }
  return n;
}

uevent_table_change uevent_table::apply(const uevent& ev, size_t* removed) {
  if (removed != nullptr) {
    *removed = 0;
  }
  auto k = devpath_segments(ev.devpath);
  if (!under_devices(k)) {
    return uevent_table_change::ignored;
  }
  if (ev.action == "remove") {
    auto n = erase_subtree(k);
    if (removed != nullptr) {
      *removed = n;
    }
    return uevent_table_change::removed;
  }
  if (ev.action == "move") {
    auto old = devpath_segments(ev.devpath_old);
    std::vector<std::pair<key, uevent_properties>> moved;
    if (under_devices(old) && old != k) {
      for (auto it = rows_.lower_bound(old); it != rows_.end() && starts_with(it->first, old);) {
        key renamed = k;
        renamed.insert(renamed.end(), it->first.begin() + static_cast<std::ptrdiff_t>(old.size()),
                       it->first.end());
        moved.emplace_back(std::move(renamed), std::move(it->second));
        it = rows_.erase(it);
      }
    }
    if (removed != nullptr) {
      *removed = moved.size();
    }
    for (auto& [nk, props] : moved) {
      rows_[std::move(nk)] = std::move(props);
    }
    rows_[k] = properties_of(ev);
    return uevent_table_change::moved;
  }
  rows_[k] = properties_of(ev);
  return uevent_table_change::stored;
}

const uevent_properties* uevent_table::find(std::string_view devpath) const {
  auto it = rows_.find(devpath_segments(devpath));
  return it == rows_.end() ? nullptr : &it->second;
}

std::vector<uevent_table::row> uevent_table::with_prefix(std::string_view prefix) const {
  auto p = devpath_segments(prefix);
  std::vector<row> out;
  for (auto it = rows_.lower_bound(p); it != rows_.end() && starts_with(it->first, p); ++it) {
    out.push_back(row{devpath_of(it->first), &it->second});
  }
  return out;
}

}  // namespace myelin::runtime
