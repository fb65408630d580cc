// rtnetlink through libnl-route (libnl-3): snapshots, change events, link
// configuration.
#include "myelin/runtime/net/rtnetlink.hpp"

#include <arpa/inet.h>
#include <linux/if_arp.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <caf/make_message.hpp>

#include "myelin/runtime/net/net_errc.hpp"

namespace myelin::runtime {

std::string to_string(net_errc x) {
  switch (x) {
    case net_errc::unavailable:
      return "unavailable";
    case net_errc::netlink_failed:
      return "netlink_failed";
    case net_errc::no_such_interface:
      return "no_such_interface";
    case net_errc::spawn_failed:
      return "spawn_failed";
    case net_errc::bad_event:
      return "bad_event";
  }
  return "?";
}

caf::error make_error(net_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("net"),
                    caf::make_message(std::move(context))};
}

namespace {

struct sock_deleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct cache_deleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct addr_deleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct link_deleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct rtaddr_deleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct route_deleter {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
using sock_ptr = std::unique_ptr<nl_sock, sock_deleter>;
using cache_ptr = std::unique_ptr<nl_cache, cache_deleter>;
using addr_ptr = std::unique_ptr<nl_addr, addr_deleter>;
using link_ptr = std::unique_ptr<rtnl_link, link_deleter>;
using rtaddr_ptr = std::unique_ptr<rtnl_addr, rtaddr_deleter>;
using route_ptr = std::unique_ptr<rtnl_route, route_deleter>;

caf::error nl_failure(const std::string& what, int rc) {
  return make_error(net_errc::netlink_failed, what + ": " + nl_geterror(rc));
}

/// "ADDRESS" of a binary IPv4/IPv6 nl_addr, empty for other families.
std::string ip_text(nl_addr* a) {
  if (a == nullptr) {
    return {};
  }
  char buf[INET6_ADDRSTRLEN] = {};
  int family = nl_addr_get_family(a);
  if ((family != AF_INET && family != AF_INET6) ||
      inet_ntop(family, nl_addr_get_binary_addr(a), buf, sizeof(buf)) == nullptr) {
    return {};
  }
  return buf;
}

std::string mac_text(nl_addr* a) {
  if (a == nullptr || nl_addr_get_len(a) != 6) {
    return {};
  }
  const auto* b = static_cast<const unsigned char*>(nl_addr_get_binary_addr(a));
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4],
                b[5]);
  return buf;
}

std::string link_type(rtnl_link* link, const std::string& name) {
  unsigned arp = rtnl_link_get_arptype(link);
  if (arp == ARPHRD_LOOPBACK) {
    return "loopback";
  }
  if (const char* kind = rtnl_link_get_type(link)) {
    return kind;
  }
  std::error_code ec;
  if (std::filesystem::exists("/sys/class/net/" + name + "/wireless", ec) ||
      std::filesystem::exists("/sys/class/net/" + name + "/phy80211", ec)) {
    return "wifi";
  }
  if (arp == ARPHRD_ETHER) {
    return "ethernet";
  }
  return "other";
}

caf::expected<int> ifindex_of(nl_sock* sock, const std::string& ifname) {
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock, 0, ifname.c_str(), &raw);
  if (rc < 0) {
    return make_error(net_errc::no_such_interface,
                      "no interface '" + ifname + "': " + nl_geterror(rc));
  }
  link_ptr link{raw};
  return rtnl_link_get_ifindex(link.get());
}

caf::expected<addr_ptr> parse_addr(const std::string& text, int family) {
  nl_addr* raw = nullptr;
  int rc = nl_addr_parse(text.c_str(), family, &raw);
  if (rc < 0) {
    return make_error(net_errc::netlink_failed, "'" + text + "' is not an address");
  }
  return addr_ptr{raw};
}

}  // namespace

struct rtnetlink::impl {
  sock_ptr events;
  sock_ptr query;
};

rtnetlink::rtnetlink(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

rtnetlink::~rtnetlink() = default;

caf::expected<std::unique_ptr<rtnetlink>> rtnetlink::open() {
  auto p = std::make_unique<impl>();
  p->events.reset(nl_socket_alloc());
  p->query.reset(nl_socket_alloc());
  if (!p->events || !p->query) {
    return make_error(net_errc::unavailable, "cannot allocate a netlink socket");
  }
  int rc = nl_connect(p->events.get(), NETLINK_ROUTE);
  if (rc < 0) {
    return make_error(net_errc::unavailable,
                      std::string{"netlink route socket: "} + nl_geterror(rc));
  }
  nl_socket_disable_seq_check(p->events.get());
  rc = nl_socket_add_memberships(p->events.get(), RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
                                 RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV4_ROUTE, 0);
  if (rc < 0) {
    return make_error(net_errc::unavailable,
                      std::string{"netlink route groups: "} + nl_geterror(rc));
  }
  nl_socket_set_nonblocking(p->events.get());
  // Bursts (many interfaces at once) should not overflow the socket easily.
  nl_socket_set_buffer_size(p->events.get(), 1 << 20, 0);
  rc = nl_connect(p->query.get(), NETLINK_ROUTE);
  if (rc < 0) {
    return make_error(net_errc::unavailable,
                      std::string{"netlink route socket: "} + nl_geterror(rc));
  }
  return std::unique_ptr<rtnetlink>{new rtnetlink{std::move(p)}};
}

int rtnetlink::event_fd() const {
  return nl_socket_get_fd(impl_->events.get());
}

bool rtnetlink::drain_events() {
  bool complete = true;
  char buf[8192];
  for (;;) {
    auto n = ::recv(event_fd(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) {
      continue;
    }
    if (n < 0 && errno == ENOBUFS) {
      complete = false;
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return complete;
  }
}

caf::expected<net_snapshot> rtnetlink::snapshot() {
  nl_sock* sock = impl_->query.get();
  nl_cache* raw = nullptr;
  int rc = rtnl_link_alloc_cache(sock, AF_UNSPEC, &raw);
  if (rc < 0) {
    return nl_failure("reading links", rc);
  }
  cache_ptr links{raw};
  rc = rtnl_addr_alloc_cache(sock, &raw);
  if (rc < 0) {
    return nl_failure("reading addresses", rc);
  }
  cache_ptr addrs{raw};
  rc = rtnl_route_alloc_cache(sock, AF_INET, 0, &raw);
  if (rc < 0) {
    return nl_failure("reading routes", rc);
  }
  cache_ptr routes{raw};

  net_snapshot snap;
  for (auto* obj = nl_cache_get_first(links.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* link = reinterpret_cast<rtnl_link*>(obj);
    link_state l;
    l.index = rtnl_link_get_ifindex(link);
    l.name = rtnl_link_get_name(link) != nullptr ? rtnl_link_get_name(link) : "";
    l.type = link_type(link, l.name);
    l.mac_address = mac_text(rtnl_link_get_addr(link));
    auto flags = rtnl_link_get_flags(link);
    l.admin_up = (flags & IFF_UP) != 0;
    l.lower_up = (flags & IFF_LOWER_UP) != 0;
    snap.links.push_back(std::move(l));
  }
  std::vector<std::string> v6;
  for (auto& l : snap.links) {
    std::vector<std::string> v4;
    v6.clear();
    for (auto* obj = nl_cache_get_first(addrs.get()); obj != nullptr;
         obj = nl_cache_get_next(obj)) {
      auto* a = reinterpret_cast<rtnl_addr*>(obj);
      if (rtnl_addr_get_ifindex(a) != l.index) {
        continue;
      }
      auto text = ip_text(rtnl_addr_get_local(a));
      if (text.empty()) {
        continue;
      }
      auto cidr = text + "/" + std::to_string(rtnl_addr_get_prefixlen(a));
      if (rtnl_addr_get_family(a) == AF_INET) {
        v4.push_back(cidr);
        if (rtnl_addr_get_scope(a) == RT_SCOPE_UNIVERSE) {
          l.ipv4.push_back(text);
        }
      } else {
        v6.push_back(cidr);
      }
    }
    l.addresses = v4;
    l.addresses.insert(l.addresses.end(), v6.begin(), v6.end());
  }
  for (auto* obj = nl_cache_get_first(routes.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* r = reinterpret_cast<rtnl_route*>(obj);
    auto* dst = rtnl_route_get_dst(r);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        (dst != nullptr && nl_addr_get_prefixlen(dst) != 0) || rtnl_route_get_nnexthops(r) < 1) {
      continue;
    }
    auto* nh = rtnl_route_nexthop_n(r, 0);
    int index = rtnl_route_nh_get_ifindex(nh);
    for (auto& l : snap.links) {
      if (l.index == index && l.gateway.empty()) {
        l.gateway = ip_text(rtnl_route_nh_get_gateway(nh));
      }
    }
  }
  std::sort(snap.links.begin(), snap.links.end(),
            [](const link_state& a, const link_state& b) { return a.name < b.name; });
  return snap;
}

caf::error rtnetlink::set_link_up(const std::string& ifname, bool up) {
  nl_sock* sock = impl_->query.get();
  rtnl_link* raw = nullptr;
  int rc = rtnl_link_get_kernel(sock, 0, ifname.c_str(), &raw);
  if (rc < 0) {
    return make_error(net_errc::no_such_interface,
                      "no interface '" + ifname + "': " + nl_geterror(rc));
  }
  link_ptr link{raw};
  link_ptr change{rtnl_link_alloc()};
  if (up) {
    rtnl_link_set_flags(change.get(), IFF_UP);
  } else {
    rtnl_link_unset_flags(change.get(), IFF_UP);
  }
  rc = rtnl_link_change(sock, link.get(), change.get(), 0);
  if (rc < 0) {
    return nl_failure("setting " + ifname + (up ? " up" : " down"), rc);
  }
  return {};
}

namespace {

caf::expected<rtaddr_ptr> make_ipv4(nl_sock* sock, const std::string& ifname,
                                    const std::string& address, int prefix) {
  auto index = ifindex_of(sock, ifname);
  if (!index) {
    return index.error();
  }
  auto local = parse_addr(address, AF_INET);
  if (!local) {
    return local.error();
  }
  nl_addr_set_prefixlen(local->get(), prefix);
  rtaddr_ptr a{rtnl_addr_alloc()};
  rtnl_addr_set_ifindex(a.get(), *index);
  rtnl_addr_set_family(a.get(), AF_INET);
  rtnl_addr_set_local(a.get(), local->get());
  rtnl_addr_set_prefixlen(a.get(), prefix);
  if (prefix < 31) {
    in_addr in{};
    std::memcpy(&in, nl_addr_get_binary_addr(local->get()), sizeof(in));
    uint32_t host_mask = prefix == 0 ? 0xffffffffU : (0xffffffffU >> static_cast<unsigned>(prefix));
    in.s_addr = htonl(ntohl(in.s_addr) | host_mask);
    addr_ptr bcast{nl_addr_build(AF_INET, &in, sizeof(in))};
    rtnl_addr_set_broadcast(a.get(), bcast.get());
  }
  return a;
}

}  // namespace

caf::error rtnetlink::add_ipv4(const std::string& ifname, const std::string& address, int prefix) {
  auto a = make_ipv4(impl_->query.get(), ifname, address, prefix);
  if (!a) {
    return a.error();
  }
  int rc = rtnl_addr_add(impl_->query.get(), a->get(), 0);
  if (rc < 0 && rc != -NLE_EXIST) {
    return nl_failure("adding " + address + "/" + std::to_string(prefix) + " to " + ifname, rc);
  }
  return {};
}

caf::error rtnetlink::remove_ipv4(const std::string& ifname, const std::string& address,
                                  int prefix) {
  auto a = make_ipv4(impl_->query.get(), ifname, address, prefix);
  if (!a) {
    return a.error();
  }
  int rc = rtnl_addr_delete(impl_->query.get(), a->get(), 0);
  if (rc < 0 && rc != -NLE_NOADDR && rc != -NLE_OBJ_NOTFOUND) {
    return nl_failure("removing " + address + "/" + std::to_string(prefix) + " from " + ifname, rc);
  }
  return {};
}

caf::error rtnetlink::add_default_route(const std::string& ifname, const std::string& gateway) {
  nl_sock* sock = impl_->query.get();
  auto index = ifindex_of(sock, ifname);
  if (!index) {
    return index.error();
  }
  auto gw = parse_addr(gateway, AF_INET);
  if (!gw) {
    return gw.error();
  }
  auto dst = parse_addr("0.0.0.0/0", AF_INET);
  if (!dst) {
    return dst.error();
  }
  route_ptr r{rtnl_route_alloc()};
  rtnl_route_set_family(r.get(), AF_INET);
  rtnl_route_set_table(r.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(r.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(r.get(), RTPROT_STATIC);
  rtnl_route_set_type(r.get(), RTN_UNICAST);
  rtnl_route_set_dst(r.get(), dst->get());
  auto* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, *index);
  rtnl_route_nh_set_gateway(nh, gw->get());
  rtnl_route_add_nexthop(r.get(), nh);  // the route owns it from here
  int rc = rtnl_route_add(sock, r.get(), NLM_F_CREATE);
  if (rc < 0 && rc != -NLE_EXIST) {
    return nl_failure("adding a default route via " + gateway + " on " + ifname, rc);
  }
  return {};
}

caf::error rtnetlink::remove_default_routes(const std::string& ifname) {
  nl_sock* sock = impl_->query.get();
  auto index = ifindex_of(sock, ifname);
  if (!index) {
    return index.error();
  }
  nl_cache* raw = nullptr;
  int rc = rtnl_route_alloc_cache(sock, AF_INET, 0, &raw);
  if (rc < 0) {
    return nl_failure("reading routes", rc);
  }
  cache_ptr routes{raw};
  for (auto* obj = nl_cache_get_first(routes.get()); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* r = reinterpret_cast<rtnl_route*>(obj);
    auto* dst = rtnl_route_get_dst(r);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        (dst != nullptr && nl_addr_get_prefixlen(dst) != 0) || rtnl_route_get_nnexthops(r) < 1 ||
        rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0)) != *index) {
      continue;
    }
    rc = rtnl_route_delete(sock, r, 0);
    if (rc < 0 && rc != -NLE_OBJ_NOTFOUND) {
      return nl_failure("removing the default route of " + ifname, rc);
    }
  }
  return {};
}

}  // namespace myelin::runtime
