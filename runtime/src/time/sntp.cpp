// The SNTP client (see sntp.hpp).
#include "myelin/runtime/time/sntp.hpp"

#include <netdb.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime {

namespace {

/// Seconds from 1900 (NTP's era 0) to 1970.
constexpr uint64_t ntp_unix_offset = 2208988800ULL;
constexpr size_t packet_size = 48;

int64_t now_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

uint64_t read_u64(const unsigned char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

void write_u64(unsigned char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<unsigned char>(v & 0xff);
    v >>= 8;
  }
}

/// Splits "host:port", "[v6]:port", "host" (port 123).
std::pair<std::string, std::string> host_and_port(const std::string& server) {
  if (!server.empty() && server.front() == '[') {
    auto close = server.find(']');
    if (close != std::string::npos) {
      auto host = server.substr(1, close - 1);
      auto rest = server.substr(close + 1);
      return {host, rest.size() > 1 && rest[0] == ':' ? rest.substr(1) : "123"};
    }
  }
  auto colon = server.rfind(':');
  if (colon != std::string::npos && server.find(':') == colon) {
    return {server.substr(0, colon), server.substr(colon + 1)};
  }
  return {server, "123"};
}

}  // namespace

std::string to_string(time_errc x) {
  switch (x) {
    case time_errc::unreachable:
      return "unreachable";
    case time_errc::bad_reply:
      return "bad_reply";
    case time_errc::unsynchronized:
      return "unsynchronized";
  }
  return "?";
}

caf::error make_error(time_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("time"),
                    caf::make_message(std::move(context))};
}

uint64_t ntp_timestamp(int64_t unix_us) {
  auto secs = static_cast<uint64_t>(unix_us / 1000000) + ntp_unix_offset;
  auto frac = (static_cast<uint64_t>(unix_us % 1000000) << 32) / 1000000;
  return (secs << 32) | frac;
}

int64_t unix_us_of(uint64_t ntp) {
  auto secs = static_cast<int64_t>(ntp >> 32) - static_cast<int64_t>(ntp_unix_offset);
  auto frac = static_cast<int64_t>(((ntp & 0xffffffffULL) * 1000000) >> 32);
  return secs * 1000000 + frac;
}

caf::expected<sntp_sample> parse_sntp_reply(const unsigned char* p, size_t size, uint64_t sent,
                                            int64_t t4_us) {
  if (size < packet_size) {
    return make_error(time_errc::bad_reply,
                      "a reply of " + std::to_string(size) + " bytes (an NTP packet has 48)");
  }
  int leap = p[0] >> 6;
  int version = (p[0] >> 3) & 7;
  int mode = p[0] & 7;
  int stratum = p[1];
  if (mode != 4 || version < 3 || version > 4) {
    return make_error(time_errc::bad_reply, "not a server's reply (version " +
                                                std::to_string(version) + ", mode " +
                                                std::to_string(mode) + ")");
  }
  if (read_u64(p + 24) != sent) {
    // Not the answer to our request: a late or a forged one.
    return make_error(time_errc::bad_reply, "the reply does not answer our request");
  }
  if (stratum == 0) {
    std::string code(reinterpret_cast<const char*>(p + 12), 4);
    return make_error(time_errc::unsynchronized, "kiss-o'-death " + code);
  }
  if (leap == 3 || stratum > 15) {
    return make_error(time_errc::unsynchronized, "the server is not synchronized");
  }
  auto t2 = read_u64(p + 32);
  auto t3 = read_u64(p + 40);
  if (t3 == 0 || t2 == 0) {
    return make_error(time_errc::bad_reply, "the reply has no receive or transmit time");
  }
  auto t1_us = unix_us_of(sent);
  auto t2_us = unix_us_of(t2);
  auto t3_us = unix_us_of(t3);
  sntp_sample s;
  s.offset_us = ((t2_us - t1_us) + (t3_us - t4_us)) / 2;
  s.delay_us = (t4_us - t1_us) - (t3_us - t2_us);
  s.stratum = stratum;
  if (s.delay_us < 0) {
    s.delay_us = 0;
  }
  return s;
}

caf::expected<sntp_sample> sntp_query(const std::string& server,
                                      std::chrono::milliseconds timeout) {
  auto [host, port] = host_and_port(server);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return make_error(time_errc::unreachable, server + ": " + ::gai_strerror(rc));
  }
  int fd = ::socket(found->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, found->ai_addr, found->ai_addrlen) != 0) {
    auto why = std::string{std::strerror(errno)};
    ::freeaddrinfo(found);
    if (fd >= 0) {
      ::close(fd);
    }
    return make_error(time_errc::unreachable, server + ": " + why);
  }
  ::freeaddrinfo(found);
  unsigned char req[packet_size] = {};
  req[0] = (4 << 3) | 3;  // no leap warning, version 4, client
  // Our transmit time, its lowest bits random: a forged reply must echo it.
  auto sent = ntp_timestamp(now_us());
  uint16_t noise = 0;
  [[maybe_unused]] auto got = ::getrandom(&noise, sizeof noise, GRND_NONBLOCK);
  sent ^= noise;
  write_u64(req + 40, sent);
  if (::send(fd, req, sizeof req, 0) != static_cast<ssize_t>(sizeof req)) {
    auto why = std::string{std::strerror(errno)};
    ::close(fd);
    return make_error(time_errc::unreachable, server + ": " + why);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      ::close(fd);
      return make_error(time_errc::unreachable,
                        server + ": no answer within " + std::to_string(timeout.count()) + " ms");
    }
    pollfd pfd{fd, POLLIN, 0};
    int rc = ::poll(&pfd, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc <= 0) {
      continue;  // the deadline decides
    }
    unsigned char buf[512];
    auto n = ::recv(fd, buf, sizeof buf, 0);
    auto t4 = now_us();
    if (n < 0) {
      auto why = std::string{std::strerror(errno)};  // e.g. ECONNREFUSED: nothing listens
      ::close(fd);
      return make_error(time_errc::unreachable, server + ": " + why);
    }
    auto sample = parse_sntp_reply(buf, static_cast<size_t>(n), sent, t4);
    if (!sample && sample.error().code() == static_cast<uint8_t>(time_errc::bad_reply) &&
        n >= static_cast<ssize_t>(packet_size) && read_u64(buf + 24) != sent) {
      continue;  // someone else's (or a forged) reply: keep waiting for ours
    }
    ::close(fd);
    if (!sample) {
      const auto& ctx = sample.error().context();
      auto why = !ctx.empty() && ctx.match_element<std::string>(0) ? ctx.get_as<std::string>(0)
                                                                   : std::string{"bad reply"};
      return make_error(static_cast<time_errc>(sample.error().code()), server + ": " + why);
    }
    sample->server = server;
    return sample;
  }
}

}  // namespace myelin::runtime
