// The net service's properties computed from a snapshot of the kernel's state.
#include "myelin/runtime/net/net_properties.hpp"

#include <algorithm>

namespace myelin::runtime {

namespace {

bool contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    out += (out.empty() ? "" : " ") + s;
  }
  return out;
}

size_t order_of(const std::vector<std::string>& order, const std::string& name) {
  auto i = std::find(order.begin(), order.end(), name);
  return static_cast<size_t>(i - order.begin());
}

}  // namespace

std::map<std::string, std::string> link_properties(const net_snapshot& snap,
                                                   const std::vector<std::string>& configured,
                                                   const std::vector<std::string>& internet,
                                                   const std::vector<std::string>& primary_order) {
  std::map<std::string, std::string> out;
  std::vector<std::pair<connection, std::string>> available;
  std::vector<connection> all;
  for (const auto& l : snap.links) {
    auto p = "interface/" + l.name + "/";
    auto c = connection_of(l, contains(internet, l.name));
    out[p + "type"] = l.type;
    out[p + "state"] = l.admin_up ? "up" : "down";
    out[p + "lower_up"] = l.lower_up ? "true" : "false";
    out[p + "present"] = "true";
    out[p + "mac_address"] = l.mac_address;
    out[p + "addresses"] = join(l.addresses);
    out[p + "gateway"] = l.gateway;
    out[p + "connection"] = to_string(c);
    if (c != connection::disconnected) {
      available.emplace_back(c, l.name);
    }
    all.push_back(c);
  }
  for (const auto& name : configured) {
    if (snap.find(name) == nullptr) {
      auto p = "interface/" + name + "/";
      out[p + "state"] = "absent";
      out[p + "lower_up"] = "false";
      out[p + "present"] = "false";
      out[p + "connection"] = "disconnected";
    }
  }
  std::sort(available.begin(), available.end(), [&](const auto& a, const auto& b) {
    if (a.first != b.first) {
      return a.first > b.first;
    }
    auto oa = order_of(primary_order, a.second);
    auto ob = order_of(primary_order, b.second);
    return oa != ob ? oa < ob : a.second < b.second;
  });
  std::vector<std::string> names;
  for (const auto& a : available) {
    names.push_back(a.second);
  }
  out["available_interfaces"] = join(names);
  out["connection"] = to_string(best_connection(all));
  // The table does not store empty values.
  for (auto i = out.begin(); i != out.end();) {
    i = i->second.empty() ? out.erase(i) : std::next(i);
  }
  return out;
}

std::string primary_address(const net_snapshot& snap,
                            const std::vector<std::string>& primary_order) {
  for (const auto& name : primary_order) {
    if (const auto* l = snap.find(name); l != nullptr && !l->ipv4.empty()) {
      return l->ipv4.front();
    }
  }
  for (const auto& l : snap.links) {
    if (l.type != "loopback" && !l.ipv4.empty()) {
      return l.ipv4.front();
    }
  }
  return {};
}

std::string node_name(const std::string& prefix, const std::string& address) {
  return prefix + "@" + (address.empty() ? std::string{"127.0.0.1"} : address);
}

}  // namespace myelin::runtime
