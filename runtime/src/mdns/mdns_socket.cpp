// Multicast DNS sockets and the querier (see mdns_socket.hpp).
#include "myelin/runtime/mdns/mdns_socket.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime::mdns {

std::string to_string(mdns_errc x) {
  switch (x) {
    case mdns_errc::socket_error:
      return "socket_error";
    case mdns_errc::no_interface:
      return "no_interface";
    case mdns_errc::not_found:
      return "not_found";
  }
  return "mdns_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(mdns_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("mdns"),
                    caf::make_message(std::move(context))};
}

namespace {

caf::error sys_error(const std::string& what) {
  return make_error(mdns_errc::socket_error, what + ": " + std::strerror(errno));
}

in_addr group_address() {
  in_addr a{};
  ::inet_pton(AF_INET, mdns_group, &a);
  return a;
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// sendmsg with IP_PKTINFO naming the outgoing interface (it wins over the
/// socket's multicast interface: one socket serves every interface).
caf::error send_on(int fd, const std::vector<uint8_t>& bytes, int ifindex, const sockaddr_in& to) {
  iovec iov{const_cast<uint8_t*>(bytes.data()), bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo))] = {};
  msghdr mh{};
  mh.msg_name = const_cast<sockaddr_in*>(&to);
  mh.msg_namelen = sizeof(to);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  if (ifindex > 0) {
    mh.msg_control = control;
    mh.msg_controllen = sizeof(control);
    auto* c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo info{};
    info.ipi_ifindex = ifindex;
    std::memcpy(CMSG_DATA(c), &info, sizeof(info));
  }
  for (;;) {
    if (::sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
      return {};
    }
    if (errno != EINTR) {
      char ip[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &to.sin_addr, ip, sizeof(ip));
      return sys_error("sendmsg to " + std::string{ip} + ":" + std::to_string(ntohs(to.sin_port)) +
                       " on interface " + std::to_string(ifindex));
    }
  }
}

/// recvmsg with the arrival interface; nullopt when nothing is waiting.
std::optional<mdns_socket::datagram> receive_from(int fd) {
  mdns_socket::datagram d;
  d.bytes.resize(dns::max_message_bytes + 1);
  iovec iov{d.bytes.data(), d.bytes.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(in_pktinfo)) + 64] = {};
  msghdr mh{};
  mh.msg_name = &d.from;
  mh.msg_namelen = sizeof(d.from);
  mh.msg_iov = &iov;
  mh.msg_iovlen = 1;
  mh.msg_control = control;
  mh.msg_controllen = sizeof(control);
  ssize_t n = -1;
  do {
    n = ::recvmsg(fd, &mh, MSG_DONTWAIT | MSG_TRUNC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return std::nullopt;
  }
  d.oversized = static_cast<size_t>(n) > dns::max_message_bytes || (mh.msg_flags & MSG_TRUNC);
  d.bytes.resize(std::min(static_cast<size_t>(n), dns::max_message_bytes));
  for (auto* c = CMSG_FIRSTHDR(&mh); c != nullptr; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      d.ifindex = info.ipi_ifindex;
    }
  }
  return d;
}

int open_udp(uint16_t port, bool reuse, std::string& why) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) {
    why = std::string{"socket: "} + std::strerror(errno);
    return -1;
  }
  int one = 1;
  int zero = 0;
  int ttl = 255;
  if (reuse) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  }
  ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl));
  ::setsockopt(fd, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
  ::setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &zero, sizeof(zero));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    why = "bind 0.0.0.0:" + std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string interface_names(const std::vector<mdns_interface>& ifs) {
  std::string out;
  for (const auto& i : ifs) {
    out += (out.empty() ? "" : ", ") + i.name;
  }
  return out;
}

/// What the querier heard, merged from every response.
struct heard {
  std::vector<std::pair<dns::record, std::string>> records;  // record, interface

  void add(const dns::message& m, const std::string& ifname) {
    for (const auto* section : {&m.answers, &m.additionals}) {
      for (const auto& r : *section) {
        if (r.ttl > 0) {
          records.emplace_back(r, ifname);
        }
      }
    }
  }

  const dns::record* find(uint16_t type, const std::string& name) const {
    for (const auto& [r, _] : records) {
      if (r.type == type && dns::same_name(r.name, name)) {
        return &r;
      }
    }
    return nullptr;
  }

  /// Fills address/port/txt of `d` from what was heard for its names.
  void complete(found_device& d, const std::string& instance_full) const {
    if (const auto* srv = find(dns::rr::srv, instance_full)) {
      d.port = srv->port;
      d.host = srv->target;
    }
    if (const auto* txt = find(dns::rr::txt, instance_full)) {
      for (const auto& s : txt->txt) {
        auto eq = s.find('=');
        d.txt[s.substr(0, eq)] = eq == std::string::npos ? "" : s.substr(eq + 1);
      }
    }
    for (const auto& [r, ifname] : records) {
      if (r.type == dns::rr::a && dns::same_name(r.name, d.host)) {
        d.address = dns::format_ipv4(r.ipv4);
        d.interface = ifname;
        break;
      }
    }
  }
};

struct querier {
  int fd = -1;
  std::vector<mdns_interface> ifs;
  uint16_t port = mdns_port;
  uint16_t id = 0;

  ~querier() {
    if (fd >= 0) {
      ::close(fd);
    }
  }

  caf::error open(const query_options& opts) {
    ifs.clear();
    for (auto& i : multicast_interfaces(opts.interfaces)) {
      if (!i.addresses.empty()) {
        ifs.push_back(std::move(i));
      }
    }
    if (ifs.empty()) {
      return make_error(mdns_errc::no_interface,
                        opts.interfaces.empty()
                            ? std::string{"no network interface is up with an IPv4 address and "
                                          "multicast to ask on"}
                            : "none of the interfaces asked for is up with an IPv4 address");
    }
    std::string why;
    fd = open_udp(0, false, why);
    if (fd < 0) {
      return make_error(mdns_errc::socket_error, why);
    }
    port = opts.port;
    id = static_cast<uint16_t>(std::random_device{}());
    return {};
  }

  caf::error ask(const std::vector<dns::question>& questions) const {
    dns::message q;
    q.id = id;
    q.questions = questions;
    auto bytes = dns::serialize(q);
    if (!bytes) {
      return bytes.error();
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr = group_address();
    caf::error last;
    size_t sent = 0;
    for (const auto& i : ifs) {
      if (auto err = send_on(fd, *bytes, i.index, to)) {
        last = err;
      } else {
        ++sent;
      }
    }
    return sent > 0 ? caf::error{} : last;
  }

  /// Waits up to `ms` for one response; false on timeout.
  bool wait_one(int64_t ms, heard& into) const {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::max<int64_t>(ms, 0))) <= 0) {
      return false;
    }
    while (auto d = receive_from(fd)) {
      if (d->oversized) {
        continue;
      }
      auto m = dns::parse(d->bytes.data(), d->bytes.size());
      if (!m || !m->is_response()) {
        continue;
      }
      std::string ifname;
      for (const auto& i : ifs) {
        if (i.index == d->ifindex) {
          ifname = i.name;
        }
      }
      into.add(*m, ifname);
    }
    return true;
  }
};

}  // namespace

std::vector<mdns_interface> multicast_interfaces(const std::vector<std::string>& only) {
  std::vector<mdns_interface> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    return out;
  }
  for (auto* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr) {
      continue;
    }
    std::string name = a->ifa_name;
    bool named = std::find(only.begin(), only.end(), name) != only.end();
    if (!only.empty() && !named) {
      continue;
    }
    auto flags = a->ifa_flags;
    if ((flags & IFF_UP) == 0 || (flags & IFF_MULTICAST) == 0 ||
        ((flags & IFF_LOOPBACK) != 0 && !named)) {
      continue;
    }
    auto it = std::find_if(out.begin(), out.end(),
                           [&](const mdns_interface& i) { return i.name == name; });
    if (it == out.end()) {
      mdns_interface i;
      i.name = name;
      i.index = static_cast<int>(::if_nametoindex(a->ifa_name));
      if (i.index == 0) {
        continue;
      }
      out.push_back(std::move(i));
      it = out.end() - 1;
    }
    if (a->ifa_addr != nullptr && a->ifa_addr->sa_family == AF_INET) {
      ipv4_address ip{};
      std::memcpy(ip.data(), &reinterpret_cast<sockaddr_in*>(a->ifa_addr)->sin_addr, 4);
      it->addresses.push_back(ip);
    }
  }
  ::freeifaddrs(list);
  std::sort(out.begin(), out.end(),
            [](const mdns_interface& x, const mdns_interface& y) { return x.name < y.name; });
  return out;
}

mdns_socket::~mdns_socket() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

mdns_socket::mdns_socket(mdns_socket&& other) noexcept : fd_(other.fd_), port_(other.port_) {
  other.fd_ = -1;
}

mdns_socket& mdns_socket::operator=(mdns_socket&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = other.fd_;
    port_ = other.port_;
    other.fd_ = -1;
  }
  return *this;
}

caf::expected<mdns_socket> mdns_socket::open(uint16_t port) {
  std::string why;
  int fd = open_udp(port, true, why);
  if (fd < 0) {
    return make_error(mdns_errc::socket_error, why);
  }
  mdns_socket s;
  s.fd_ = fd;
  s.port_ = port;
  return s;
}

caf::error mdns_socket::join(int ifindex) {
  ip_mreqn req{};
  req.imr_multiaddr = group_address();
  req.imr_ifindex = ifindex;
  if (::setsockopt(fd_, IPPROTO_IP, IP_ADD_MEMBERSHIP, &req, sizeof(req)) != 0 &&
      errno != EADDRINUSE) {
    return sys_error("joining " + std::string{mdns_group} + " on interface " +
                     std::to_string(ifindex));
  }
  return {};
}

void mdns_socket::leave(int ifindex) {
  ip_mreqn req{};
  req.imr_multiaddr = group_address();
  req.imr_ifindex = ifindex;
  ::setsockopt(fd_, IPPROTO_IP, IP_DROP_MEMBERSHIP, &req, sizeof(req));
}

caf::error mdns_socket::send(const std::vector<uint8_t>& bytes, int ifindex,
                             const sockaddr_in* to) const {
  sockaddr_in group{};
  group.sin_family = AF_INET;
  group.sin_port = htons(port_);
  group.sin_addr = group_address();
  return send_on(fd_, bytes, ifindex, to != nullptr ? *to : group);
}

std::optional<mdns_socket::datagram> mdns_socket::receive() const {
  return receive_from(fd_);
}

bool is_local_name(const std::string& host) {
  auto h = host;
  if (!h.empty() && h.back() == '.') {
    h.pop_back();
  }
  return h.size() > 6 && dns::same_name(std::string_view{h}.substr(h.size() - 6), ".local");
}

caf::expected<std::vector<found_device>> browse(const query_options& opts,
                                                const std::string& service) {
  querier q;
  if (auto err = q.open(opts)) {
    return err;
  }
  dns::question ptr;
  ptr.name = service;
  ptr.type = dns::rr::ptr;
  if (auto err = q.ask({ptr})) {
    return err;
  }
  heard h;
  auto start = now_ms();
  auto deadline = start + opts.wait.count();
  // Asked again a third of the way in: one lost packet loses no device.
  auto resend_at = start + opts.wait.count() / 3;
  bool again = false;
  for (auto now = start; now < deadline; now = now_ms()) {
    if (!again && now >= resend_at) {
      q.ask({ptr});
      again = true;
    }
    q.wait_one((again ? deadline : resend_at) - now, h);
  }
  std::vector<found_device> out;
  for (const auto& [r, _] : h.records) {
    if (r.type != dns::rr::ptr || !dns::same_name(r.name, service)) {
      continue;
    }
    bool seen = std::any_of(out.begin(), out.end(), [&](const found_device& d) {
      return dns::same_name(d.instance + "." + service, r.target);
    });
    if (seen) {
      continue;
    }
    found_device d;
    auto labels = dns::split_name(r.target);
    d.instance = labels && !labels->empty() ? labels->front() : r.target;
    h.complete(d, r.target);
    out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const found_device& a, const found_device& b) { return a.instance < b.instance; });
  return out;
}

caf::expected<found_device> resolve(const std::string& name, const query_options& opts) {
  auto host = name;
  if (!host.empty() && host.back() == '.') {
    host.pop_back();
  }
  auto labels = dns::split_name(host);
  if (!labels || labels->empty()) {
    return make_error(mdns_errc::not_found, "'" + name + "' is not a host name");
  }
  querier q;
  if (auto err = q.open(opts)) {
    return err;
  }
  auto instance = dns::escape_label(labels->front()) + "." + myelin_service;
  dns::question a;
  a.name = host;
  a.type = dns::rr::a;
  dns::question srv;
  srv.name = instance;
  srv.type = dns::rr::srv;
  dns::question txt = srv;
  txt.type = dns::rr::txt;
  heard h;
  auto start = now_ms();
  auto deadline = start + opts.wait.count();
  int64_t next_ask = start;
  int64_t address_at = -1;
  for (auto now = start; now < deadline; now = now_ms()) {
    if (now >= next_ask) {
      q.ask({a, srv, txt});
      next_ask = now + 300;
    }
    q.wait_one(std::min(deadline, next_ask) - now, h);
    const auto* addr = h.find(dns::rr::a, host);
    if (addr != nullptr && address_at < 0) {
      address_at = now_ms();
    }
    bool have_port = h.find(dns::rr::srv, instance) != nullptr;
    if (addr != nullptr && (have_port || now_ms() >= address_at + 150)) {
      found_device d;
      d.instance = labels->front();
      h.complete(d, instance);
      d.host = host;  // the name asked for, whatever the SRV's target
      d.address = dns::format_ipv4(addr->ipv4);
      return d;
    }
  }
  return make_error(mdns_errc::not_found, "no device answered for " + host + " over mDNS within " +
                                              std::to_string(opts.wait.count()) + " ms (asked on " +
                                              interface_names(q.ifs) + ")");
}

}  // namespace myelin::runtime::mdns
