// Reading and checking the [net] section of the configuration.
#include "myelin/runtime/net/net_config.hpp"

#include <cctype>

namespace myelin::runtime {

std::string to_string(address_method m) {
  switch (m) {
    case address_method::none:
      return "none";
    case address_method::static_ipv4:
      return "static";
    case address_method::dhcp:
      return "dhcp";
  }
  return "?";
}

bool is_ipv4(const std::string& text) {
  int parts = 0;
  size_t i = 0;
  while (i <= text.size()) {
    size_t start = i;
    int value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) != 0) {
      value = value * 10 + (text[i] - '0');
      if (i - start >= 3 || value > 255) {
        return false;
      }
      ++i;
    }
    size_t len = i - start;
    if (len == 0 || (len > 1 && text[start] == '0')) {
      return false;
    }
    ++parts;
    if (i == text.size()) {
      return parts == 4;
    }
    if (text[i] != '.' || parts == 4) {
      return false;
    }
    ++i;
  }
  return false;
}

bool is_interface_name(const std::string& name) {
  if (name.empty() || name.size() > 15 || name == "." || name == "..") {
    return false;
  }
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || std::isspace(c) != 0 || std::iscntrl(c) != 0 || c > 126) {
      return false;
    }
  }
  return true;
}

namespace {

caf::error invalid(const std::string& key, const std::string& why) {
  return make_error(config_errc::invalid_value, key + ": " + why);
}

bool is_host_name(const std::string& h) {
  if (h.empty() || h.size() > 253) {
    return false;
  }
  for (unsigned char c : h) {
    if (std::isalnum(c) == 0 && c != '-' && c != '.') {
      return false;
    }
  }
  return h.front() != '-' && h.front() != '.';
}

}  // namespace

caf::expected<host_port> parse_host_port(const std::string& text, const std::string& key) {
  auto bad = [&](const std::string& why) {
    return invalid(key, "'" + text + "' is not HOST:PORT (" + why + ")");
  };
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return bad("an IPv6 address is written [ADDRESS]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    for (unsigned char c : host) {
      if (std::isxdigit(c) == 0 && c != ':' && c != '.') {
        return bad("bad IPv6 address");
      }
    }
    if (host.empty()) {
      return bad("empty host");
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      return bad("no port");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (!is_host_name(host)) {
      return bad("bad host");
    }
  }
  if (port.empty() || port.size() > 5) {
    return bad("bad port");
  }
  int value = 0;
  for (unsigned char c : port) {
    if (std::isdigit(c) == 0) {
      return bad("bad port");
    }
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 65535) {
    return bad("port out of range");
  }
  return host_port{host, static_cast<uint16_t>(value)};
}

caf::expected<net_config> net_config_from(const config& cfg) {
  net_config out;
  out.node_name_prefix = cfg.get_string("net.node_name_prefix");
  if (out.node_name_prefix.empty()) {
    out.node_name_prefix = cfg.get_string("device.name");
  }
  out.primary_interfaces = cfg.get_list("net.primary_interfaces");
  for (const auto& name : out.primary_interfaces) {
    if (!is_interface_name(name)) {
      return invalid("net.primary_interfaces", "'" + name + "' is not an interface name");
    }
  }
  for (const auto& text : cfg.get_list("net.internet_hosts")) {
    auto hp = parse_host_port(text, "net.internet_hosts");
    if (!hp) {
      return hp.error();
    }
    out.internet_hosts.push_back(*hp);
  }
  out.check_interval = std::chrono::milliseconds{cfg.get_int("net.check_interval_ms")};
  out.check_timeout = std::chrono::milliseconds{cfg.get_int("net.check_timeout_ms")};
  out.udhcpc = cfg.get_string("net.udhcpc");
  out.dhcp_restart_delay = std::chrono::milliseconds{cfg.get_int("net.dhcp_restart_delay_ms")};
  for (const auto& name : cfg.table_names("net.interfaces")) {
    auto key = "net.interfaces." + name;
    if (!is_interface_name(name)) {
      return invalid(key, "'" + name + "' is not a Linux interface name");
    }
    interface_config ic;
    ic.name = name;
    const auto& method = cfg.get_string(key + ".method");
    if (method == "static") {
      ic.method = address_method::static_ipv4;
    } else if (method == "dhcp") {
      ic.method = address_method::dhcp;
    } else if (method == "none") {
      ic.method = address_method::none;
    } else {
      return invalid(key + ".method", "unknown method '" + method + "' (static, dhcp or none)");
    }
    ic.up = cfg.get_bool(key + ".up");
    ic.address = cfg.get_string(key + ".address");
    ic.prefix = static_cast<int>(cfg.get_int(key + ".prefix"));
    ic.gateway = cfg.get_string(key + ".gateway");
    if (ic.method == address_method::static_ipv4) {
      if (ic.address.empty()) {
        return invalid(key + ".address", "method 'static' needs an address");
      }
      if (!is_ipv4(ic.address)) {
        return invalid(key + ".address", "'" + ic.address + "' is not an IPv4 address");
      }
      if (!ic.gateway.empty() && !is_ipv4(ic.gateway)) {
        return invalid(key + ".gateway", "'" + ic.gateway + "' is not an IPv4 address");
      }
    } else {
      if (!ic.address.empty()) {
        return invalid(key + ".address",
                       "an address is only used with method 'static' (method is '" + method + "')");
      }
      if (!ic.gateway.empty()) {
        return invalid(key + ".gateway",
                       "a gateway is only used with method 'static' (method is '" + method + "')");
      }
    }
    out.interfaces.push_back(std::move(ic));
  }
  return out;
}

}  // namespace myelin::runtime
