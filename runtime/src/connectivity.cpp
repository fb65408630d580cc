// Connectivity levels and the TCP internet check.
#include "myelin/runtime/connectivity.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

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

bool try_connect(const sockaddr_in& to, std::chrono::milliseconds timeout,
                 const std::string& ifname, const std::string& source_ipv4) {
  fd_guard fd{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (fd.get() < 0) {
    return false;
  }
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                   static_cast<socklen_t>(ifname.size())) != 0 &&
      !source_ipv4.empty()) {
    // Unprivileged (host mode): bind the source address instead.
    sockaddr_in src{};
    src.sin_family = AF_INET;
    if (inet_pton(AF_INET, source_ipv4.c_str(), &src.sin_addr) == 1) {
      ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&src), sizeof(src));
    }
  }
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof(to)) == 0) {
    return true;
  }
  if (errno != EINPROGRESS) {
    return false;
  }
  pollfd p{fd.get(), POLLOUT, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  if (rc <= 0) {
    return false;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  return ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

}  // namespace

bool tcp_check(const std::vector<host_port>& hosts, std::chrono::milliseconds timeout,
               const std::string& ifname, const std::string& source_ipv4) {
  for (const auto& hp : hosts) {
    addrinfo hints{};
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (::getaddrinfo(hp.host.c_str(), std::to_string(hp.port).c_str(), &hints, &res) != 0) {
      continue;
    }
    bool ok = false;
    for (auto* ai = res; ai != nullptr && !ok; ai = ai->ai_next) {
      if (ai->ai_family == AF_INET) {
        ok = try_connect(*reinterpret_cast<const sockaddr_in*>(ai->ai_addr), timeout, ifname,
                         source_ipv4);
      }
    }
    ::freeaddrinfo(res);
    if (ok) {
      return true;
    }
  }
  return false;
}

}  // namespace myelin::runtime
