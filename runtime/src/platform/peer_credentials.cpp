// The owner of a local TCP peer (see peer_credentials.hpp).
#include "myelin/runtime/platform/peer_credentials.hpp"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace myelin::runtime {

namespace {

/// One address of the connection as inet_diag wants it: family, port and
/// address in network order (IPv4-mapped IPv6 addresses as IPv4).
struct endpoint {
  int family = 0;
  uint16_t port = 0;
  uint32_t addr[4] = {};
};

bool endpoint_of(int fd, bool peer, endpoint& out) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  auto* sa = reinterpret_cast<sockaddr*>(&ss);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) {
    return false;
  }
  if (ss.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&ss);
    out.family = AF_INET;
    out.port = in->sin_port;
    std::memcpy(out.addr, &in->sin_addr, 4);
    return true;
  }
  if (ss.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&ss);
    out.port = in6->sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      out.family = AF_INET;
      std::memcpy(out.addr, in6->sin6_addr.s6_addr + 12, 4);
    } else {
      out.family = AF_INET6;
      std::memcpy(out.addr, &in6->sin6_addr, 16);
    }
    return true;
  }
  return false;
}

}  // namespace

std::optional<uid_t> local_tcp_peer_uid(int fd) {
  endpoint peer;
  endpoint local;
  if (!endpoint_of(fd, true, peer) || !endpoint_of(fd, false, local) ||
      peer.family != local.family) {
    return std::nullopt;
  }
  int nl = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (nl < 0) {
    return std::nullopt;
  }
  struct {
    nlmsghdr header;
    inet_diag_req_v2 req;
  } query{};
  query.header.nlmsg_len = sizeof(query);
  query.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  query.header.nlmsg_flags = NLM_F_REQUEST;
  query.req.sdiag_family = static_cast<uint8_t>(peer.family);
  query.req.sdiag_protocol = IPPROTO_TCP;
  query.req.idiag_states = ~0U;
  // The peer's socket: its source is our peer, its destination is us.
  query.req.id.idiag_sport = peer.port;
  query.req.id.idiag_dport = local.port;
  std::memcpy(query.req.id.idiag_src, peer.addr, sizeof(peer.addr));
  std::memcpy(query.req.id.idiag_dst, local.addr, sizeof(local.addr));
  query.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  query.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  std::optional<uid_t> uid;
  timeval timeout{1, 0};
  ::setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (::sendto(nl, &query, sizeof(query), 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof(kernel)) == static_cast<ssize_t>(sizeof(query))) {
    alignas(nlmsghdr) char buf[8192];
    auto n = ::recv(nl, buf, sizeof(buf), 0);
    if (n > 0) {
      auto len = static_cast<unsigned>(n);
      for (auto* h = reinterpret_cast<nlmsghdr*>(buf); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
        if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY &&
            h->nlmsg_len >= NLMSG_LENGTH(sizeof(inet_diag_msg))) {
          const auto* msg = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
          uid = static_cast<uid_t>(msg->idiag_uid);
          break;
        }
        if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) {
          break;
        }
      }
    }
  }
  ::close(nl);
  return uid;
}

}  // namespace myelin::runtime
