// Parsing udhcpc's events, and the script that hands them over.
#include "myelin/runtime/net/dhcp_event.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <map>

#include "myelin/runtime/net/net_config.hpp"
#include "myelin/runtime/net/net_errc.hpp"

namespace myelin::runtime {

namespace {

caf::error bad(const std::string& why) {
  return make_error(net_errc::bad_event, "bad udhcpc event: " + why);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    auto pos = s.find(sep, start);
    if (pos == std::string::npos) {
      pos = s.size();
    }
    if (pos > start) {
      out.push_back(s.substr(start, pos - start));
    }
    start = pos + 1;
  }
  return out;
}

caf::expected<std::vector<std::string>> ipv4_list(const std::string& key, const std::string& v) {
  auto items = split(v, ',');
  if (items.size() > 16) {
    return bad(key + ": too many addresses");
  }
  for (const auto& a : items) {
    if (!is_ipv4(a)) {
      return bad(key + ": '" + a + "' is not an IPv4 address");
    }
  }
  return items;
}

}  // namespace

int netmask_prefix(const std::string& mask) {
  in_addr a{};
  if (!is_ipv4(mask) || inet_pton(AF_INET, mask.c_str(), &a) != 1) {
    return -1;
  }
  uint32_t m = ntohl(a.s_addr);
  int prefix = 0;
  while (prefix < 32 && (m & (0x80000000U >> static_cast<unsigned>(prefix))) != 0) {
    ++prefix;
  }
  uint32_t expected = prefix == 0 ? 0 : (0xffffffffU << static_cast<unsigned>(32 - prefix));
  return m == expected ? prefix : -1;
}

caf::expected<dhcp_event> parse_dhcp_event(const std::string& line) {
  if (line.size() > max_dhcp_event_line) {
    return bad("line longer than " + std::to_string(max_dhcp_event_line) + " bytes");
  }
  for (unsigned char c : line) {
    if (c < 0x20 || c > 0x7e) {
      return bad("control or non-ASCII character");
    }
  }
  std::map<std::string, std::string> fields;
  for (const auto& tok : split(line, ' ')) {
    auto eq = tok.find('=');
    if (eq == std::string::npos || eq == 0) {
      return bad("'" + tok.substr(0, 40) + "' is not KEY=VALUE");
    }
    auto key = tok.substr(0, eq);
    if (fields.count(key) != 0) {
      return bad("'" + key + "' given twice");
    }
    fields[key] = tok.substr(eq + 1);
  }
  dhcp_event ev;
  ev.kind = fields["event"];
  if (ev.kind != "deconfig" && ev.kind != "bound" && ev.kind != "renew" && ev.kind != "leasefail" &&
      ev.kind != "nak") {
    return bad("unknown event '" + ev.kind.substr(0, 20) + "'");
  }
  ev.interface = fields["interface"];
  if (!is_interface_name(ev.interface)) {
    return bad("'" + ev.interface.substr(0, 20) + "' is not an interface name");
  }
  if (ev.kind != "bound" && ev.kind != "renew") {
    return ev;
  }
  ev.ip = fields["ip"];
  if (!is_ipv4(ev.ip)) {
    return bad("ip: '" + ev.ip.substr(0, 20) + "' is not an IPv4 address");
  }
  const auto& mask = fields["mask"];
  if (!mask.empty()) {
    if (mask.size() > 2 || std::isdigit(static_cast<unsigned char>(mask[0])) == 0 ||
        std::isdigit(static_cast<unsigned char>(mask.back())) == 0 || std::stoi(mask) > 32) {
      return bad("mask: '" + mask + "' is not a prefix length");
    }
    ev.prefix = std::stoi(mask);
  } else if (!fields["subnet"].empty()) {
    ev.prefix = netmask_prefix(fields["subnet"]);
    if (ev.prefix < 0) {
      return bad("subnet: '" + fields["subnet"].substr(0, 20) + "' is not a netmask");
    }
  } else {
    ev.prefix = 32;
  }
  auto routers = ipv4_list("router", fields["router"]);
  if (!routers) {
    return routers.error();
  }
  ev.routers = *routers;
  auto dns = ipv4_list("dns", fields["dns"]);
  if (!dns) {
    return dns.error();
  }
  ev.dns = *dns;
  const auto& lease = fields["lease"];
  if (!lease.empty()) {
    if (lease.size() > 10) {
      return bad("lease: too long");
    }
    for (unsigned char c : lease) {
      if (std::isdigit(c) == 0) {
        return bad("lease: '" + lease + "' is not a number of seconds");
      }
    }
    ev.lease_s = std::stoll(lease);
  }
  return ev;
}

std::string udhcpc_script(const std::string& fifo) {
  return "#!/bin/sh\n"
         "# Written by myelin's net service (docs/networking.md): hands each udhcpc event\n"
         "# to it as one line on a FIFO; myelin applies addresses and routes itself.\n"
         "fifo='" +
         fifo +
         "'\n"
         "[ -p \"$fifo\" ] || exit 0\n"
         "r=$(printf '%s' \"$router\" | tr -s ' \\t' ',,')\n"
         "d=$(printf '%s' \"$dns\" | tr -s ' \\t' ',,')\n"
         "printf 'event=%s interface=%s ip=%s mask=%s subnet=%s router=%s dns=%s lease=%s\\n' \\\n"
         "  \"$1\" \"$interface\" \"$ip\" \"$mask\" \"$subnet\" \"$r\" \"$d\" \"$lease\" > "
         "\"$fifo\"\n"
         "exit 0\n";
}

}  // namespace myelin::runtime
