// Runs modprobe for a batch of module aliases.
#include "myelin/runtime/modprobe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "myelin/runtime/child_guard.hpp"

namespace myelin::runtime {

modprobe_result run_modprobe(const std::string& program, const std::vector<std::string>& aliases,
                             std::chrono::milliseconds timeout) {
  std::vector<std::string> args{program, "-a", "-q", "-b", "--"};
  args.insert(args.end(), aliases.begin(), aliases.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);

  // We wait for this child by pid: a reaper of every child must not take it.
  child_guard awaited;
  pid_t pid = fork();
  awaited.set(pid);
  if (pid < 0) {
    return {false, std::string{"cannot start: "} + std::strerror(errno)};
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
      dup2(devnull, STDOUT_FILENO);
      dup2(devnull, STDERR_FILENO);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    auto r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      break;
    }
    if (r < 0 && errno != EINTR) {
      return {false, std::string{"lost the child: "} + std::strerror(errno)};
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    if (code == 127) {
      return {false, "cannot run " + program + " (exit 127)"};
    }
    return {code == 0, "exited with code " + std::to_string(code)};
  }
  if (WIFSIGNALED(status)) {
    return {false, "killed by signal " + std::to_string(WTERMSIG(status)) +
                       (timed_out ? " (timeout)" : "")};
  }
  return {false, "ended abnormally"};
}

}  // namespace myelin::runtime
