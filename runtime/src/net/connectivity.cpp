// Connectivity levels and the TCP internet check.
#include "myelin/runtime/net/connectivity.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

namespace myelin::runtime {

std::string to_string(connection c) {
  switch (c) {
    case connection::disconnected:
      return "disconnected";
    case connection::lan:
      return "lan";
    case connection::internet:
      return "internet";
  }
  return "?";
}

bool link_can_connect(const link_state& link) {
  return link.type != "loopback" && link.admin_up && link.lower_up && !link.ipv4.empty();
}

connection connection_of(const link_state& link, bool internet_ok) {
  if (!link_can_connect(link)) {
    return connection::disconnected;
  }
  return internet_ok ? connection::internet : connection::lan;
}

connection best_connection(const std::vector<connection>& links) {
  auto best = connection::disconnected;
  for (auto c : links) {
    best = std::max(best, c);
  }
  return best;
}

namespace {

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

/// Waits until `fd` is writable, `timeout` passes or `stop` fires; true only
/// when writable.
bool wait_writable(int fd, std::chrono::milliseconds timeout, const stop_signal* stop) {
  pollfd p[2] = {{fd, POLLOUT, 0}, {stop != nullptr ? stop->fd() : -1, POLLIN, 0}};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (stop == nullptr || !stop->fired()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    // If the eventfd could not be made, the flag is looked at every 100 ms.
    int slice = static_cast<int>(
        stop != nullptr && stop->fd() < 0 ? std::min<int64_t>(left.count(), 100) : left.count());
    int rc = ::poll(p, 2, slice);
    if (rc < 0 && errno != EINTR) {
      return false;
    }
    if (rc > 0 && (p[0].revents & (POLLOUT | POLLERR | POLLHUP)) != 0) {
      return true;
    }
  }
  return false;
}

bool try_connect(const sockaddr_storage& to, std::chrono::milliseconds timeout,
                 const std::string& ifname, const std::string& source_ipv4,
                 const stop_signal* stop) {
  fd_guard fd{::socket(to.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (fd.get() < 0) {
    return false;
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                   static_cast<socklen_t>(ifname.size())) != 0 &&
      to.ss_family == AF_INET && !source_ipv4.empty()) {
    // Unprivileged (host mode): bind the source address instead (IPv4; an
    // IPv6 target goes wherever the routing table sends it).
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (inet_pton(AF_INET, source_ipv4.c_str(), &src.sin_addr) == 1) {
      ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&src), sizeof(src));
    }
  }
  auto to_len =
      static_cast<socklen_t>(to.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), to_len) == 0) {
    return true;
  }
  if (errno != EINPROGRESS || !wait_writable(fd.get(), timeout, stop)) {
    return false;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  return ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

/// The addresses of `hp` (IPv4 and IPv6): a literal at once; a name through the
/// resolver (getaddrinfo_a), given up when `stop` fires. A lookup still under
/// way then is left to finish on glibc's own thread: its request is
/// deliberately not freed, since glibc still writes into it.
std::vector<sockaddr_storage> resolve(const host_port& hp, const stop_signal* stop) {
  std::vector<sockaddr_storage> out;
  sockaddr_storage literal{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&literal);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&literal);
  if (inet_pton(AF_INET, hp.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(hp.port);
    out.push_back(literal);
    return out;
  }
  if (inet_pton(AF_INET6, hp.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(hp.port);
    out.push_back(literal);
    return out;
  }
  struct lookup {
    std::string host;
    std::string port;
    addrinfo hints{};
    gaicb cb{};
  };
  auto req = std::make_unique<lookup>();
  req->host = hp.host;
  req->port = std::to_string(hp.port);
  req->hints.ai_family = AF_UNSPEC;
  req->hints.ai_socktype = SOCK_STREAM;
  req->cb.ar_name = req->host.c_str();
  req->cb.ar_service = req->port.c_str();
  req->cb.ar_request = &req->hints;
  gaicb* list[1] = {&req->cb};
  if (::getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr) != 0) {
    return out;
  }
  while (::gai_error(&req->cb) == EAI_INPROGRESS) {
    if (stop != nullptr && stop->fired()) {
      auto rc = ::gai_cancel(&req->cb);
      if (rc == EAI_NOTCANCELED) {
        req.release();  // glibc's thread still writes into it
      } else if (rc == EAI_ALLDONE && ::gai_error(&req->cb) == 0) {
        ::freeaddrinfo(req->cb.ar_result);
      }
      return out;
    }
    timespec slice{0, 100'000'000};
    const gaicb* const wait[1] = {&req->cb};
    ::gai_suspend(wait, 1, &slice);
  }
  if (::gai_error(&req->cb) != 0 || req->cb.ar_result == nullptr) {
    return out;
  }
  for (auto* ai = req->cb.ar_result; ai != nullptr; ai = ai->ai_next) {
    if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
        ai->ai_addrlen <= sizeof(sockaddr_storage)) {
      sockaddr_storage a{};
      std::memcpy(&a, ai->ai_addr, ai->ai_addrlen);
      out.push_back(a);
    }
  }
  ::freeaddrinfo(req->cb.ar_result);
  return out;
}

}  // namespace

bool tcp_check(const std::vector<host_port>& hosts, std::chrono::milliseconds timeout,
               const std::string& ifname, const std::string& source_ipv4, const stop_signal* stop) {
  for (const auto& hp : hosts) {
    for (const auto& to : resolve(hp, stop)) {
      if (stop != nullptr && stop->fired()) {
        return false;
      }
      if (try_connect(to, timeout, ifname, source_ipv4, stop)) {
        return true;
      }
    }
  }
  return false;
}

}  // namespace myelin::runtime
