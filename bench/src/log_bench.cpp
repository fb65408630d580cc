// myelin-bench scenario "log": syslog datagrams per second into the ring
// through the real syslog server (socket, parser, hub, ring), the datagrams
// lost on the way, and as a floor the same datagrams received raw (no parsing,
// no ring) by a bare recvmmsg loop on the same kind of socket; and the parser
// and ring alone, without a socket.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "myelin/bench/scenario.hpp"
#include "myelin/runtime/log/log_hub.hpp"
#include "myelin/runtime/log/syslog_server.hpp"

namespace {

using clock_type = std::chrono::steady_clock;
namespace rt = myelin::runtime;

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  return addr;
}

/// Sends `n` datagrams of the shape glibc's syslog(3) writes, blocking when
/// the receiver's queue is full (as syslog(3) does). Returns those refused.
uint64_t send_all(const std::string& path, uint64_t n) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto addr = address_of(path);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return n;
  }
  uint64_t failed = 0;
  char buf[256];
  for (uint64_t i = 0; i < n; ++i) {
    int len = std::snprintf(buf, sizeof(buf),
                            "<14>Nov 22 05:40:01 bench[%d]: message %llu of the log benchmark, "
                            "some payload",
                            static_cast<int>(::getpid()), static_cast<unsigned long long>(i));
    if (::send(fd, buf, static_cast<size_t>(len), 0) != len) {
      ++failed;
    }
  }
  ::close(fd);
  return failed;
}

/// Waits until `count()` reaches `n` or nothing arrives for 2 s; the time the
/// last one arrived.
template <class Count>
clock_type::time_point wait_for(uint64_t n, Count count) {
  auto last_change = clock_type::now();
  auto seen = count();
  while (seen < n && clock_type::now() - last_change < std::chrono::seconds{2}) {
    std::this_thread::sleep_for(std::chrono::microseconds{200});
    auto now_seen = count();
    if (now_seen != seen) {
      seen = now_seen;
      last_change = clock_type::now();
    }
  }
  return last_change;
}

/// The floor: a bare receiver that only counts datagrams.
double raw_floor(const std::string& path, uint64_t n) {
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto addr = address_of(path);
  ::unlink(path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return 0;
  }
  std::atomic<uint64_t> received{0};
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    constexpr size_t batch = 32;
    std::vector<char> bufs(batch * 8192);
    std::vector<mmsghdr> msgs(batch);
    std::vector<iovec> iovs(batch);
    while (!stop) {
      for (size_t i = 0; i < batch; ++i) {
        iovs[i] = {bufs.data() + i * 8192, 8192};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      timespec t{0, 50 * 1000 * 1000};
      int got = ::recvmmsg(fd, msgs.data(), batch, MSG_WAITFORONE, &t);
      if (got > 0) {
        received += static_cast<uint64_t>(got);
      }
    }
  });
  auto t0 = clock_type::now();
  send_all(path, n);
  auto t1 = wait_for(n, [&] { return received.load(); });
  stop = true;
  // Wake the reader.
  int w = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ::sendto(w, "x", 1, 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::close(w);
  reader.join();
  ::close(fd);
  ::unlink(path.c_str());
  return static_cast<double>(received.load()) / std::chrono::duration<double>(t1 - t0).count();
}

int run(const std::vector<std::string>& args) {
  uint64_t n = args.empty() ? 200000 : std::stoull(args[0]);
  auto dir =
      std::filesystem::temp_directory_path() / ("myelin-bench-log-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "log.sock").string();

  rt::logging_options lo;
  lo.console = "none";
  auto hub = std::make_shared<rt::log_hub>(lo);
  rt::syslog_server_options so;
  so.path = path;
  rt::syslog_server server{hub, so};
  if (auto err = server.start()) {
    std::cerr << "myelin-bench log: " << rt::describe(err) << "\n";
    return 1;
  }
  auto t0 = clock_type::now();
  auto refused = send_all(path, n);
  auto t1 = wait_for(n, [&] { return hub->ring()->last_seq(); });
  server.stop();
  auto in_ring = hub->ring()->last_seq();
  auto secs = std::chrono::duration<double>(t1 - t0).count();
  myelin::bench::result("syslog_msgs_per_s", static_cast<double>(in_ring) / secs, "msgs/s");
  myelin::bench::result("syslog_lost", static_cast<double>(n - std::min(n, in_ring)), "msgs");
  myelin::bench::result("syslog_refused_by_socket", static_cast<double>(refused), "msgs");
  myelin::bench::result("syslog_malformed",
                        static_cast<double>(hub->counters().syslog_malformed.load()), "msgs");
  myelin::bench::result("syslog_raw_floor_msgs_per_s", raw_floor(path, n), "msgs/s");
  // Parser + hub + ring alone, no socket: the headroom above the socket.
  auto hub2 = std::make_shared<rt::log_hub>(lo);
  rt::syslog_server direct{hub2, so};
  std::string line = "<14>Nov 22 05:40:01 bench[1]: message of the log benchmark, some payload";
  auto p0 = clock_type::now();
  for (uint64_t i = 0; i < n; ++i) {
    direct.on_datagram(line, false);
  }
  auto psecs = std::chrono::duration<double>(clock_type::now() - p0).count();
  myelin::bench::result("syslog_pipeline_msgs_per_s", static_cast<double>(n) / psecs, "msgs/s");
  std::filesystem::remove_all(dir);
  return in_ring == n ? 0 : 1;
}

}  // namespace

MYELIN_BENCH_SCENARIO("log",
                      "syslog datagrams per second into the ring (socket, parser, ring) without "
                      "loss, against a bare receiver as floor; arg: count (200000)",
                      run);
