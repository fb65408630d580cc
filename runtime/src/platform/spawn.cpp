// The one process spawner (see spawn.hpp): vfork + exec, clean child.
#include "myelin/runtime/platform/spawn.hpp"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include <caf/make_message.hpp>

namespace myelin::runtime {

namespace {}  // namespace

caf::error make_error(spawn_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("spawn"),
                    caf::make_message(std::move(context))};
}

namespace {

caf::error make_spawn_error(spawn_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("spawn"),
                    caf::make_message(std::move(context))};
}

/// Everything the child touches, prepared before vfork: after it, only
/// system calls.
struct child_plan {
  std::vector<char*> argv;
  int fds[3] = {-1, -1, -1};
  bool search_path = false;
  bool group = true;
  int death_signal = 0;
  int devnull = -1;
  std::vector<char*> envp;
  const char* work_dir = nullptr;
  gid_t gid = static_cast<gid_t>(-1);
  uid_t uid = static_cast<uid_t>(-1);
  int cgroup_fd = -1;
  /// Written by the child (shared memory under vfork) when exec fails, and
  /// which step failed.
  volatile int exec_errno = 0;
  const char* volatile failed_step = nullptr;
};

[[noreturn]] void child_failed(child_plan& p, const char* step) {
  p.exec_errno = errno != 0 ? errno : EINVAL;
  p.failed_step = step;
  ::_exit(127);
}

[[noreturn]] void child_main(child_plan& p) {
  // Default dispositions first (the mask still blocks everything), then the
  // empty mask the program expects. Ignored signals too: an ignored signal
  // survives exec, and a daemon with SIGTERM ignored cannot be stopped.
  // The raw system call: glibc's sigaction() refuses its own signals 32 and
  // 33, which a parent may have left ignored as well.
  struct {
    void (*handler)(int);
    unsigned long flags;
    void (*restorer)();
    uint64_t mask;
  } dfl{SIG_DFL, 0, nullptr, 0};
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) {
      ::syscall(SYS_rt_sigaction, sig, &dfl, nullptr, sizeof(dfl.mask));
    }
  }
  if (p.group) {
    ::setpgid(0, 0);
  }
  if (p.death_signal != 0) {
    ::prctl(PR_SET_PDEATHSIG, p.death_signal);
  }
  if (p.cgroup_fd >= 0 && ::write(p.cgroup_fd, "0", 1) != 1) {
    child_failed(p, "joining its cgroup");
  }
  if (p.work_dir != nullptr && ::chdir(p.work_dir) != 0) {
    child_failed(p, "changing to its working directory");
  }
  if (p.gid != static_cast<gid_t>(-1) && (::setgroups(0, nullptr) != 0 || ::setgid(p.gid) != 0)) {
    child_failed(p, "switching its group");
  }
  if (p.uid != static_cast<uid_t>(-1) && ::setuid(p.uid) != 0) {
    child_failed(p, "switching its user");
  }
  for (int i = 0; i < 3; ++i) {
    if (p.fds[i] == -2) {
      continue;  // myelin's own
    }
    int from = p.fds[i] >= 0 ? p.fds[i] : p.devnull;
    if (from == i) {
      ::fcntl(i, F_SETFD, 0);
    } else if (from >= 0) {
      ::dup2(from, i);
    }
  }
  ::close_range(3, ~0U, 0);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  char** envp = p.envp.empty() ? environ : p.envp.data();
  if (p.search_path) {
    ::execvpe(p.argv[0], p.argv.data(), envp);
  } else {
    ::execve(p.argv[0], p.argv.data(), envp);
  }
  p.exec_errno = errno != 0 ? errno : ENOEXEC;
  ::_exit(127);
}

}  // namespace

std::string to_string(spawn_errc x) {
  switch (x) {
    case spawn_errc::fork_failed:
      return "fork_failed";
    case spawn_errc::exec_failed:
      return "exec_failed";
    case spawn_errc::timed_out:
      return "timed_out";
    case spawn_errc::exited:
      return "exited";
  }
  return "spawn_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::expected<spawned_child> spawn(const spawn_options& opts) {
  if (opts.argv.empty() || opts.argv[0].empty()) {
    return make_spawn_error(spawn_errc::exec_failed, "no program to run");
  }
  child_plan p;
  std::vector<std::string> args = opts.argv;
  for (auto& a : args) {
    p.argv.push_back(a.data());
  }
  p.argv.push_back(nullptr);
  p.fds[0] = opts.in.fd;
  p.fds[1] = opts.out.fd;
  p.fds[2] = opts.err.fd;
  p.search_path = opts.search_path;
  p.group = opts.new_process_group;
  p.death_signal = opts.parent_death_signal;
  std::vector<std::string> env = opts.env;
  for (auto& e : env) {
    p.envp.push_back(e.data());
  }
  if (!p.envp.empty()) {
    p.envp.push_back(nullptr);
  }
  p.work_dir = opts.work_dir.empty() ? nullptr : opts.work_dir.c_str();
  p.gid = opts.gid;
  p.uid = opts.uid;
  p.cgroup_fd = opts.cgroup_procs_fd;
  p.devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  spawned_child child;
  // Registered before the child exists: a reaper must not take its status.
  child.guard = std::make_unique<child_guard>();
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::vfork();
  if (pid == 0) {
    child_main(p);
  }
  int fork_errno = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (p.devnull >= 0) {
    ::close(p.devnull);
  }
  if (pid < 0) {
    return make_spawn_error(spawn_errc::fork_failed, std::string{"cannot start "} + opts.argv[0] +
                                                         ": " + std::strerror(fork_errno));
  }
  child.guard->set(pid);
  if (p.exec_errno != 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    std::string step =
        p.failed_step != nullptr ? std::string{" ("} + p.failed_step + ")" : std::string{};
    return make_spawn_error(spawn_errc::exec_failed, "cannot run " + opts.argv[0] + step + ": " +
                                                         std::strerror(p.exec_errno));
  }
  child.pid = pid;
  return child;
}

caf::expected<run_outcome> run_program(run_options opts) {
  int fds[2] = {-1, -1};
  if (opts.capture) {
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return make_spawn_error(spawn_errc::fork_failed,
                              std::string{"pipe: "} + std::strerror(errno));
    }
    opts.spawn.out = spawn_stdio::from(fds[1]);
    if (opts.merge_stderr) {
      opts.spawn.err = spawn_stdio::from(fds[1]);
    }
  }
  auto child = spawn(opts.spawn);
  if (fds[1] >= 0) {
    ::close(fds[1]);
  }
  if (!child) {
    if (fds[0] >= 0) {
      ::close(fds[0]);
    }
    return child.error();
  }
  run_outcome out;
  bool timed_out = false;
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  auto left_ms = [&]() -> int {
    if (opts.timeout.count() <= 0) {
      return -1;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    return left <= 0 ? 0 : static_cast<int>(left);
  };
  if (fds[0] >= 0) {
    for (;;) {
      int wait = left_ms();
      if (wait == 0) {
        timed_out = true;
        break;
      }
      pollfd pfd{fds[0], POLLIN, 0};
      int rc = ::poll(&pfd, 1, wait);
      if (rc < 0 && errno == EINTR) {
        continue;
      }
      if (rc == 0) {
        timed_out = true;
        break;
      }
      char buf[4096];
      auto n = ::read(fds[0], buf, sizeof(buf));
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        break;
      }
      if (opts.keep_end) {
        out.output.append(buf, static_cast<size_t>(n));
        if (out.output.size() > opts.max_output) {
          out.output.erase(0, out.output.size() - opts.max_output);
        }
      } else if (out.output.size() < opts.max_output) {
        out.output.append(buf,
                          std::min(static_cast<size_t>(n), opts.max_output - out.output.size()));
      }
    }
    ::close(fds[0]);
  }
  // The output is closed (or there was none): wait for the exit, within
  // what is left of the time.
  int status = 0;
  while (!timed_out) {
    pid_t rc = ::waitpid(child->pid, &status, opts.timeout.count() > 0 ? WNOHANG : 0);
    if (rc == child->pid) {
      return run_outcome{status, std::move(out.output)};
    }
    if (rc < 0 && errno != EINTR) {
      return make_spawn_error(spawn_errc::fork_failed,
                              std::string{"lost the child: "} + std::strerror(errno));
    }
    if (rc == 0) {
      if (left_ms() == 0) {
        timed_out = true;
        break;
      }
      ::usleep(2000);
    }
  }
  if (opts.spawn.new_process_group) {
    ::kill(-child->pid, SIGKILL);
  }
  ::kill(child->pid, SIGKILL);
  while (::waitpid(child->pid, &status, 0) < 0 && errno == EINTR) {
  }
  return make_spawn_error(spawn_errc::timed_out, opts.spawn.argv[0] + " did not end within " +
                                                     std::to_string(opts.timeout.count()) +
                                                     " ms; killed");
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
