// Tests of the log service actor: it starts what it can (a missing kmsg device
// is reported, not fatal), serves the syslog socket, writes the log file, and
// its exit stops the threads and removes the socket.
#include "myelin/actors/log.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
namespace rt = myelin::runtime;

namespace {

bool send_to(const std::string& path, const std::string& data) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto n =
      ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::close(fd);
  return n == static_cast<ssize_t>(data.size());
}

// A missing kmsg device leaves the service running with its other sources;
// records reach the ring and the file; the exit removes the socket.
TEST(log_service, starts_what_it_can_and_cleans_up) {
  myelin::test::temp_dir dir;
  rt::logging_options lo;
  lo.console = "none";
  auto hub = std::make_shared<rt::log_hub>(lo);
  myelin::actors::log_options opts;
  opts.hub = hub;
  opts.kmsg_path = (dir / "no-kmsg").string();
  opts.syslog_socket = (dir / "log.sock").string();
  opts.file = (dir / "logs" / "myelin.log").string();
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto svc = myelin::actors::log_start(opts)(sys, caf::make_message());
  ASSERT_TRUE(svc) << sys.render(svc.error());
  std::string summary;
  {
    caf::scoped_actor self{sys};
    self->request(*svc, 5s, caf::get_atom::value)
        .receive([&](const std::string& s) { summary = s; }, [](const caf::error&) {});
  }
  EXPECT_NE(summary.find("kmsg failed"), std::string::npos) << summary;
  EXPECT_NE(summary.find("syslog " + opts.syslog_socket), std::string::npos) << summary;
  ASSERT_TRUE(send_to(opts.syslog_socket, "<12>svc: into the file"));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::string text;
  while (text.find("into the file") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    text = myelin::test::read_file(opts.file);
  }
  EXPECT_NE(text.find("[syslog:svc] into the file"), std::string::npos) << text;
  caf::anon_send_exit(*svc, caf::exit_reason::user_shutdown);
  deadline = std::chrono::steady_clock::now() + 20s;
  while (::access(opts.syslog_socket.c_str(), F_OK) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_NE(::access(opts.syslog_socket.c_str(), F_OK), 0) << "socket left behind";
}

}  // namespace
