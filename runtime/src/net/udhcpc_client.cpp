// Starting, watching and stopping one udhcpc process.
#include "myelin/runtime/net/udhcpc_client.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/net/net_errc.hpp"
#include "myelin/runtime/platform/spawn.hpp"

namespace myelin::runtime {

udhcpc_client::udhcpc_client(std::string binary, std::string ifname, std::string script)
    : binary_(std::move(binary)), ifname_(std::move(ifname)), script_(std::move(script)) {}

udhcpc_client::~udhcpc_client() {
  stop();
}

caf::error udhcpc_client::start() {
  if (pid_ > 0) {
    return {};
  }
  std::vector<std::string> args{binary_, "-f", "-i", ifname_, "-s", script_,
                                "-t",    "3",  "-T", "2",     "-A", "5"};
  if (!requested_ip_.empty()) {
    args.insert(args.end(), {"-r", requested_ip_});
  }
  spawn_options o;
  o.argv = std::move(args);
  // `net.udhcpc` may be a bare name found on PATH.
  o.search_path = true;
  o.in = spawn_stdio::null();
  o.out = spawn_stdio::inherit();
  o.err = spawn_stdio::inherit();
  o.parent_death_signal = SIGTERM;
  auto child = spawn(o);
  if (!child) {
    return make_error(net_errc::spawn_failed, describe(child.error()));
  }
  guard_ = std::move(child->guard);
  pid_ = child->pid;
  return {};
}

std::optional<int> udhcpc_client::poll_exit() {
  if (pid_ <= 0) {
    return std::nullopt;
  }
  int status = 0;
  pid_t rc = 0;
  do {
    rc = ::waitpid(pid_, &status, WNOHANG);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    return std::nullopt;
  }
  if (rc < 0) {
    // Someone else reaped it (should not happen with the guard): it is gone.
    status = 0;
  }
  pid_ = -1;
  guard_.reset();
  return status;
}

void udhcpc_client::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  while (std::chrono::steady_clock::now() < deadline) {
    if (poll_exit()) {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  guard_.reset();
}

void udhcpc_client::signal(int sig) {
  if (pid_ > 0) {
    ::kill(pid_, sig);
  }
}

}  // namespace myelin::runtime
