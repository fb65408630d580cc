// The control channel's plain-HTTP server (see console_server.hpp).
#include "console/console_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <httplib.h>

#include "myelin/runtime/platform/http_chunked.hpp"
#include "myelin/runtime/platform/peer_credentials.hpp"

namespace myelin::actors {

namespace {

using steady = std::chrono::steady_clock;

/// How much one recv(2) may take. The buffer is mapped on a connection's
/// first read and unmapped when it closes; only the pages a read touches are
/// resident, so a small request costs one page.
constexpr size_t read_buffer_size = 1 << 20;

int to_ms(time_t sec, time_t usec) {
  auto ms = static_cast<long long>(sec) * 1000 + static_cast<long long>(usec) / 1000;
  return static_cast<int>(std::clamp<long long>(ms, 0, 1 << 30));
}

/// Waits until `fd` has `events` (or `ms` passed); true if it has them.
bool wait_for(int fd, short events, int ms) {
  pollfd p{fd, events, 0};
  while (true) {
    int rc = ::poll(&p, 1, ms);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    return rc > 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len)) != 0) {
    return;
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
    port = ntohs(in6->sin6_port);
  }
  ip = text;
}

/// One connection: reads fill a large buffer with as much as the socket
/// holds; cpp-httplib then takes its small pieces from memory.
class buffered_stream final : public httplib::Stream {
 public:
  buffered_stream(int fd, int read_timeout_ms, int write_timeout_ms)
      : fd_(fd), read_timeout_ms_(read_timeout_ms), write_timeout_ms_(write_timeout_ms) {}

  ~buffered_stream() override {
    if (buf_ != nullptr) {
      ::munmap(buf_, read_buffer_size);
    }
  }

  buffered_stream(const buffered_stream&) = delete;
  buffered_stream& operator=(const buffered_stream&) = delete;

  bool buffered() const { return begin_ < end_; }

  bool is_readable() const override {
    return buffered() || wait_for(fd_, POLLIN, read_timeout_ms_);
  }

  bool is_writable() const override { return wait_for(fd_, POLLOUT, write_timeout_ms_); }

  ssize_t read(char* ptr, size_t size) override {
    if (!buffered() && !fill(read_buffer_size)) {
      return -1;
    }
    auto n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buf_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    while (true) {
      auto n = ::send(fd_, ptr, size, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n >= 0) {
        return n;
      }
      if (errno == EINTR) {
        continue;
      }
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !is_writable()) {
        return -1;
      }
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, true, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(fd_, false, ip, port);
  }

  socket_t socket() const override { return fd_; }

  /// Reads up to `cap` bytes into `dst`: what is buffered first, then large
  /// reads go from the socket straight into `dst`, small ones (chunk
  /// headers) through a small read into the buffer. How many; 0 when the
  /// peer closed the connection; -1 on error or timeout.
  long read_direct(char* dst, size_t cap) {
    if (!buffered()) {
      if (cap >= small_read) {
        return receive(dst, cap);
      }
      if (!fill(small_read)) {
        return eof_ ? 0 : -1;
      }
    }
    auto n = std::min(cap, end_ - begin_);
    std::memcpy(dst, buf_ + begin_, n);
    begin_ += n;
    return static_cast<long>(n);
  }

 private:
  /// Reads below this size go through the buffer.
  static constexpr size_t small_read = 512;

  /// Receives what the socket holds into [dst, dst + cap), waiting up to the
  /// read timeout for the first byte: how many; 0 at the end of the stream;
  /// -1 on error or timeout.
  long receive(char* dst, size_t cap) {
    while (true) {
      auto n = ::recv(fd_, dst, cap, MSG_DONTWAIT);
      if (n >= 0) {
        eof_ = n == 0;
        return n;
      }
      if (errno == EINTR) {
        continue;
      }
      if ((errno != EAGAIN && errno != EWOULDBLOCK) || !wait_for(fd_, POLLIN, read_timeout_ms_)) {
        return -1;
      }
    }
  }

  /// Refills the (empty) buffer with at most `max` bytes; false on timeout,
  /// error or end of stream.
  bool fill(size_t max) {
    if (buf_ == nullptr) {
      void* p = ::mmap(nullptr, read_buffer_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) {
        return false;
      }
      buf_ = static_cast<char*>(p);
    }
    begin_ = end_ = 0;
    auto n = receive(buf_, std::min(max, read_buffer_size));
    if (n <= 0) {
      return false;
    }
    end_ = static_cast<size_t>(n);
    return true;
  }

  int fd_;
  int read_timeout_ms_;
  int write_timeout_ms_;
  char* buf_ = nullptr;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool eof_ = false;
};

/// The connection whose request this thread is handling (plain HTTP only).
thread_local buffered_stream* current_stream = nullptr;

thread_local bool overloaded = false;

/// An answer before anything of the request is read, then the connection ends.
void answer_and_close(int sock, const char* status, const std::string& why) {
  std::string body = "{\"error\":\"" + why + "\"}";
  std::string reply =
      std::string{"HTTP/1.1 "} + status +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\nConnection: close\r\n\r\n" + body;
  (void)!::send(sock, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
}

class plain_server final : public httplib::Server {
 public:
  explicit plain_server(bool same_user_only) : same_user_only_(same_user_only) {}

 private:
  // cpp-httplib calls this on a pool thread for every accepted connection:
  // requests are served while the client keeps the connection alive (up to
  // the keep-alive count and idle timeout), then it is shut down and closed.
  bool process_and_close_socket(socket_t sock) override {
    if (overloaded) {
      answer_and_close(sock, "503 Service Unavailable",
                       "the control channel is serving as many connections as it takes; "
                       "try again");
      return false;
    }
    if (same_user_only_) {
      auto uid = runtime::local_tcp_peer_uid(sock);
      if (uid && *uid != 0 && *uid != ::geteuid()) {
        answer_and_close(sock, "403 Forbidden",
                         "the control channel does not serve local user " + std::to_string(*uid) +
                             " (app hosts and other users of this machine): run as root or "
                             "as myelin-boot's user");
        return false;
      }
    }
    buffered_stream strm{sock, to_ms(read_timeout_sec_, read_timeout_usec_),
                         to_ms(write_timeout_sec_, write_timeout_usec_)};
    bool ok = false;
    current_stream = &strm;
    for (auto left = keep_alive_max_count_; left > 0 && next_request_arrives(strm); --left) {
      bool connection_closed = false;
      ok = process_request(strm, left == 1, connection_closed, nullptr);
      if (!ok || connection_closed) {
        break;
      }
    }
    current_stream = nullptr;
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }

  /// Waits for the first byte of the next request: false when the client
  /// stays idle for the keep-alive timeout, hangs up, or the server stops.
  bool next_request_arrives(const buffered_stream& strm) const {
    if (strm.buffered()) {
      return true;
    }
    auto deadline = steady::now() + std::chrono::seconds{keep_alive_timeout_sec_};
    while (svr_sock_ != INVALID_SOCKET) {
      // Short slices, so that stop() does not wait for idle connections.
      if (wait_for(strm.socket(), POLLIN, 50)) {
        char byte = 0;
        return ::recv(strm.socket(), &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
      }
      if (steady::now() >= deadline) {
        return false;
      }
    }
    return false;
  }

  bool same_user_only_;
};

}  // namespace

std::unique_ptr<httplib::Server> make_plain_server(bool same_user_only) {
  return std::make_unique<plain_server>(same_user_only);
}

void run_overloaded(const std::function<void()>& task) {
  overloaded = true;
  task();
  overloaded = false;
}

body_source direct_body_source(const httplib::Request& req) {
  auto* strm = current_stream;
  if (strm == nullptr) {
    return {};
  }
  if (req.has_header("Transfer-Encoding")) {
    auto te = req.get_header_value("Transfer-Encoding");
    std::transform(te.begin(), te.end(), te.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (te != "chunked") {
      return [te](char*, size_t, std::string& why) -> long {
        why = "unsupported Transfer-Encoding '" + te + "' (only chunked)";
        return -1;
      };
    }
    auto decoder = std::make_shared<runtime::chunked_decoder>(
        [strm](char* dst, size_t cap) { return strm->read_direct(dst, cap); });
    return [decoder](char* dst, size_t cap, std::string& why) -> long {
      auto n = decoder->read(dst, cap);
      if (n < 0) {
        why = decoder->error();
      }
      return n;
    };
  }
  uint64_t length = 0;
  if (req.has_header("Content-Length")) {
    const auto& text = req.get_header_value("Content-Length");
    if (text.empty() || text.size() > 18 ||
        !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return [text](char*, size_t, std::string& why) -> long {
        why = "malformed Content-Length '" + text + "'";
        return -1;
      };
    }
    length = std::stoull(text);
  }
  auto left = std::make_shared<uint64_t>(length);
  return [strm, left](char* dst, size_t cap, std::string& why) -> long {
    if (*left == 0) {
      return 0;
    }
    auto n = strm->read_direct(dst, static_cast<size_t>(std::min<uint64_t>(cap, *left)));
    if (n <= 0) {
      why = "the body broke off with " + std::to_string(*left) + " bytes missing" +
            (n == 0 ? " (the connection closed)" : " (read error or timeout)");
      return -1;
    }
    *left -= static_cast<uint64_t>(n);
    return n;
  };
}

}  // namespace myelin::actors
