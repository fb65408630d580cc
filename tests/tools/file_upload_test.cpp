// Tests of tools/src/file_upload.cpp: chunked sendfile uploads against a real
// cpp-httplib server and against peers that do not speak HTTP.
#include "myelin/tools/file_upload.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <random>
#include <thread>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::tools;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

/// A cpp-httplib server on a free loopback port, stopped on destruction.
struct upload_server {
  httplib::Server srv;
  std::thread thread;
  int port = 0;
  std::string body;
  std::string encoding;
  std::string marker;

  upload_server() {
    srv.Post("/up", [this](const httplib::Request& req, httplib::Response& res,
                           const httplib::ContentReader& reader) {
      encoding = req.get_header_value("Transfer-Encoding");
      marker = req.get_header_value("X-Test");
      reader([this](const char* data, size_t size) {
        body.append(data, size);
        return true;
      });
      res.status = 201;
      res.set_content("{\"ok\":true}", "application/json");
    });
    port = srv.bind_to_any_port("127.0.0.1");
    thread = std::thread{[this] { srv.listen_after_bind(); }};
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    while (!srv.is_running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  }
  ~upload_server() {
    srv.stop();
    thread.join();
  }
};

/// A loopback listening socket on a free port.
int listen_any(int& port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd, 4);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port = ntohs(addr.sin_port);
  return fd;
}

std::string random_bytes(size_t n) {
  std::mt19937_64 rng{42};
  std::string s(n, '\0');
  for (auto& c : s) {
    c = static_cast<char>(rng());
  }
  return s;
}

device_address loopback(int port) {
  device_address dev;
  dev.host = "127.0.0.1";
  dev.port = static_cast<uint16_t>(port);
  return dev;
}

}  // namespace

// A file of several chunks arrives byte for byte, chunked, with the extra
// header; the answer's status and body come back; progress ends at the size.
TEST(file_upload, sends_file_chunked) {
  temp_dir dir;
  auto data = random_bytes((9 << 20) + 123);
  write_file(dir / "f.bin", data);
  upload_server server;
  ASSERT_GT(server.port, 0);
  int fd = ::open((dir / "f.bin").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  std::vector<uint64_t> seen;
  auto answer = post_file_chunked(loopback(server.port), "/up", {{"X-Test", "yes"}}, fd,
                                  data.size(), [&seen](uint64_t n) { seen.push_back(n); });
  ::close(fd);
  ASSERT_TRUE(answer) << myelin::runtime::describe(answer.error());
  EXPECT_EQ(answer->first, 201);
  EXPECT_EQ(answer->second, "{\"ok\":true}");
  EXPECT_EQ(server.encoding, "chunked");
  EXPECT_EQ(server.marker, "yes");
  EXPECT_TRUE(server.body == data) << server.body.size() << " of " << data.size() << " bytes";
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen.back(), data.size());
}

// An empty file is an empty chunked body.
TEST(file_upload, empty_file) {
  temp_dir dir;
  write_file(dir / "e.bin", "");
  upload_server server;
  int fd = ::open((dir / "e.bin").c_str(), O_RDONLY | O_CLOEXEC);
  auto answer = post_file_chunked(loopback(server.port), "/up", {}, fd, 0, nullptr);
  ::close(fd);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->first, 201);
  EXPECT_TRUE(server.body.empty());
}

// Nobody listening: unreachable.
TEST(file_upload, unreachable_device) {
  int port = 0;
  int lfd = listen_any(port);
  ::close(lfd);
  temp_dir dir;
  write_file(dir / "f.bin", "abc");
  int fd = ::open((dir / "f.bin").c_str(), O_RDONLY | O_CLOEXEC);
  auto answer = post_file_chunked(loopback(port), "/up", {}, fd, 3, nullptr);
  ::close(fd);
  ASSERT_FALSE(answer);
  EXPECT_EQ(answer.error().code(), static_cast<uint8_t>(client_errc::unreachable));
}

// A peer that answers something other than HTTP (or nothing) is an error, not a status.
TEST(file_upload, non_http_answer_refused) {
  for (std::string reply : {std::string{"SSH-2.0-nope\r\n\r\n"}, std::string{}}) {
    int port = 0;
    int lfd = listen_any(port);
    std::thread peer{[lfd, reply] {
      int c = ::accept(lfd, nullptr, nullptr);
      std::string got;
      char buf[4096];
      while (got.find("0\r\n\r\n") == std::string::npos) {
        auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) {
          break;
        }
        got.append(buf, static_cast<size_t>(n));
      }
      ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      ::close(c);
    }};
    temp_dir dir;
    write_file(dir / "f.bin", "hello");
    int fd = ::open((dir / "f.bin").c_str(), O_RDONLY | O_CLOEXEC);
    auto answer = post_file_chunked(loopback(port), "/up", {}, fd, 5, nullptr);
    ::close(fd);
    peer.join();
    ::close(lfd);
    ASSERT_FALSE(answer) << reply;
    EXPECT_EQ(
        answer.error().code(),
        static_cast<uint8_t>(reply.empty() ? client_errc::unreachable : client_errc::bad_response));
  }
}
