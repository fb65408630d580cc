// A chunked HTTP/1.1 file upload over a plain socket with sendfile(2) (see file_upload.hpp).
#include "myelin/tools/file_upload.hpp"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace myelin::tools {

namespace {

constexpr uint64_t chunk_size = 4 << 20;
constexpr size_t max_answer = 1 << 20;

struct socket_closer {
  int fd = -1;
  ~socket_closer() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

void set_timeout(int fd, int option, int seconds) {
  timeval tv{};
  tv.tv_sec = seconds;
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

caf::expected<int> connect_to(const device_address& dev) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto port = std::to_string(dev.port);
  if (int rc = ::getaddrinfo(connect_host(dev).c_str(), port.c_str(), &hints, &found); rc != 0) {
    return make_error(client_errc::unreachable, dev.host + ": " + ::gai_strerror(rc));
  }
  std::unique_ptr<addrinfo, void (*)(addrinfo*)> list{found, ::freeaddrinfo};
  std::string why = "no address";
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      why = std::strerror(errno);
      continue;
    }
    set_timeout(fd, SO_SNDTIMEO, 60);
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      // The device syncs the slot after the last byte: allow it time to answer.
      set_timeout(fd, SO_RCVTIMEO, 300);
      return fd;
    }
    why = std::strerror(errno);
    ::close(fd);
  }
  return make_error(client_errc::unreachable, dev.host + ":" + port + ": " + why);
}

bool send_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    auto n = ::send(fd, text.data() + done, text.size() - done, MSG_NOSIGNAL | MSG_MORE);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

/// Sends the body; false when the connection broke (the device may still
/// have answered before it closed).
bool send_body(int sock, int fd, uint64_t size, const std::function<void(uint64_t)>& progress) {
  off_t offset = 0;
  while (static_cast<uint64_t>(offset) < size) {
    auto n = std::min(chunk_size, size - static_cast<uint64_t>(offset));
    char head[32];
    std::snprintf(head, sizeof head, "%llx\r\n", static_cast<unsigned long long>(n));
    if (!send_all(sock, head)) {
      return false;
    }
    auto end = offset + static_cast<off_t>(n);
    while (offset < end) {
      auto sent = ::sendfile(sock, fd, &offset, static_cast<size_t>(end - offset));
      if (sent < 0 && errno == EINTR) {
        continue;
      }
      if (sent <= 0) {
        return false;  // an error, or the file shrank under us
      }
    }
    if (!send_all(sock, "\r\n")) {
      return false;
    }
    if (progress) {
      progress(static_cast<uint64_t>(offset));
    }
  }
  return send_all(sock, "0\r\n\r\n");
}

/// Reads the answer (the device closes the connection after it).
caf::expected<std::pair<int, std::string>> read_answer(int sock) {
  std::string text;
  char buf[16384];
  size_t body_at = std::string::npos;
  size_t length = std::string::npos;
  while (text.size() < max_answer) {
    auto n = ::recv(sock, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return make_error(client_errc::unreachable,
                        std::string{"reading the answer: "} + std::strerror(errno));
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<size_t>(n));
    if (body_at == std::string::npos) {
      auto end = text.find("\r\n\r\n");
      if (end == std::string::npos) {
        continue;
      }
      body_at = end + 4;
      // Content-Length, matched case-insensitively.
      std::string head = text.substr(0, end);
      for (auto& c : head) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      auto at = head.find("\r\ncontent-length:");
      if (at != std::string::npos) {
        length = std::strtoull(head.c_str() + at + 17, nullptr, 10);
      }
    }
    if (length != std::string::npos && text.size() >= body_at + length) {
      break;
    }
  }
  int status = 0;
  if (body_at == std::string::npos || std::sscanf(text.c_str(), "HTTP/1.%*d %d", &status) != 1 ||
      status < 100 || status > 599) {
    if (text.empty()) {
      return make_error(client_errc::unreachable, "the connection closed without an answer");
    }
    return make_error(client_errc::bad_response, "the device's answer is not HTTP");
  }
  auto body = text.substr(body_at);
  if (length != std::string::npos && body.size() > length) {
    body.resize(length);
  }
  return std::make_pair(status, std::move(body));
}

}  // namespace

caf::expected<std::pair<int, std::string>> post_file_chunked(
    const device_address& dev, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers, int fd, uint64_t size,
    const std::function<void(uint64_t)>& progress) {
  auto sock = connect_to(dev);
  if (!sock) {
    return sock.error();
  }
  socket_closer closer{*sock};
  auto host = dev.host.find(':') != std::string::npos ? "[" + dev.host + "]" : dev.host;
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: " + host + ":" +
                        std::to_string(dev.port) +
                        "\r\nContent-Type: application/octet-stream\r\n"
                        "Transfer-Encoding: chunked\r\nConnection: close\r\n";
  for (const auto& [name, value] : headers) {
    request += name + ": " + value + "\r\n";
  }
  request += "\r\n";
  bool sent = send_all(*sock, request) && send_body(*sock, fd, size, progress);
  int send_errno = errno;
  if (!sent) {
    // The device may have answered (an error) before it stopped reading.
    ::shutdown(*sock, SHUT_WR);
  }
  auto answer = read_answer(*sock);
  if (!answer && !sent) {
    return make_error(client_errc::unreachable,
                      std::string{"sending the file: "} + std::strerror(send_errno));
  }
  return answer;
}

}  // namespace myelin::tools
