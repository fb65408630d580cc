// Starting, watching and stopping one udhcpc process.
#include "myelin/runtime/udhcpc_client.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>
#include <vector>

#include "myelin/runtime/net_errc.hpp"

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
  // Everything the child needs is prepared before fork: after it, only
  // async-signal-safe calls.
  std::vector<std::string> args{binary_, "-f", "-i", ifname_, "-s", script_,
                                "-t",    "3",  "-T", "2",     "-A", "5"};
  if (!requested_ip_.empty()) {
    args.insert(args.end(), {"-r", requested_ip_});
  }
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  auto guard = std::make_unique<child_guard>();
  pid_t pid = ::fork();
  if (pid < 0) {
    return make_error(net_errc::spawn_failed, std::string{"fork: "} + std::strerror(errno));
  }
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
    }
    ::close_range(3, ~0U, 0);
    // execvp: `net.udhcpc` may be a bare name found on PATH.
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  guard->set(pid);
  guard_ = std::move(guard);
  pid_ = pid;
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

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) {
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    const char* name = sigabbrev_np(WTERMSIG(status));
    return "killed by signal " + std::to_string(WTERMSIG(status)) +
           (name != nullptr ? std::string{" (SIG"} + name + ")" : std::string{});
  }
  return "ended (status " + std::to_string(status) + ")";
}

}  // namespace myelin::runtime
