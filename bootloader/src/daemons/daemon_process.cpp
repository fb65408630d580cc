// One run of a supervised program (see daemon_process.hpp).
#include "daemons/daemon_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <map>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "myelin/actors/self_timer.hpp"
#include "myelin/bootloader/memory_cgroup.hpp"
#include "myelin/runtime/log/log_hub.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/spawn.hpp"

extern char** environ;

namespace myelin::bootloader {

namespace {

using steady = std::chrono::steady_clock;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("daemons");
  return l ? l : spdlog::default_logger();
}

/// Longest line kept; longer ones are cut (and go on as the next line).
constexpr size_t max_line = 2048;

/// Our environment with the spec's entries added or replaced.
std::vector<std::string> environment_with(const std::vector<std::string>& extra) {
  std::map<std::string, std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string kv{*e};
    env[kv.substr(0, kv.find('='))] = kv;
  }
  for (const auto& kv : extra) {
    env[kv.substr(0, kv.find('='))] = kv;
  }
  std::vector<std::string> out;
  for (auto& [key, kv] : env) {
    out.push_back(std::move(kv));
  }
  return out;
}

/// The output of one stream into the log, a line at a time, rate-limited.
struct line_sink {
  std::string name;
  spdlog::level::level_enum level;
  uint32_t per_second;
  std::shared_ptr<std::atomic<uint64_t>> dropped;
  /// Shared by stdout and stderr of one run: the rate is per daemon.
  std::shared_ptr<std::pair<steady::time_point, uint32_t>> window;
  std::string partial;

  void emit(std::string_view line) {
    auto now = steady::now();
    auto& [since, count] = *window;
    if (now - since >= std::chrono::seconds{1}) {
      if (count > per_second) {
        emit_raw(spdlog::level::warn, "(" + std::to_string(count - per_second) +
                                          " lines dropped: over " + std::to_string(per_second) +
                                          " a second)");
      }
      since = now;
      count = 0;
    }
    if (++count > per_second) {
      dropped->fetch_add(1, std::memory_order_relaxed);
      return;
    }
    emit_raw(level, line);
  }

  void emit_raw(spdlog::level::level_enum lvl, std::string_view line) const {
    if (auto hub = runtime::log_hub::current()) {
      hub->dispatch(lvl, runtime::log_origin::daemon, name, line);
    } else {
      log()->log(lvl, "{}: {}", name, line);
    }
  }

  void feed(const char* data, size_t n) {
    partial.append(data, n);
    size_t start = 0;
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
      emit(std::string_view{partial}.substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
    while (partial.size() > max_line) {
      emit(std::string_view{partial}.substr(0, max_line));
      partial.erase(0, max_line);
    }
  }

  void flush() {
    if (!partial.empty()) {
      emit(partial);
      partial.clear();
    }
  }
};

/// Reads `fd` until it would block or ends; false at its end.
bool drain(int fd, line_sink& sink) {
  char buf[8192];
  while (true) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      sink.feed(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    return n < 0 && errno == EAGAIN;
  }
}

struct run_state {
  daemon_run_options opts;
  pid_t pid = -1;
  std::unique_ptr<runtime::child_guard> guard;
  std::optional<memory_cgroup> cgroup;
  int pidfd = -1;
  std::thread monitor;
  std::atomic<bool> ended{false};
  bool stopping = false;
  caf::error stop_reason;

  /// SIGx to the program's process group and everything in its cgroup.
  void signal_all(int sig) const {
    if (pid > 0 && !ended.load()) {
      ::kill(-pid, sig);
    }
    if (cgroup) {
      if (sig == SIGKILL) {
        cgroup->kill_all();
      } else {
        for (auto p : cgroup->processes()) {
          ::kill(p, sig);
        }
      }
    }
  }

  ~run_state() {
    // The last resort (a brutal kill of the actor): nothing survives it.
    signal_all(SIGKILL);
    if (monitor.joinable()) {
      monitor.join();
    }
    if (pidfd >= 0) {
      ::close(pidfd);
    }
    if (cgroup) {
      cgroup->remove();
    }
  }
};

/// The monitor thread: output into the log until the program ends, then
/// every descendant killed, the rest of the output read, the end reported.
void watch(run_state* st, int out_fd, int err_fd, caf::actor self) {
  auto window = std::make_shared<std::pair<steady::time_point, uint32_t>>(steady::now(), 0);
  line_sink out{st->opts.spec.name,
                spdlog::level::info,
                st->opts.spec.log_lines_per_s,
                st->opts.dropped,
                window,
                {}};
  line_sink err{st->opts.spec.name,
                spdlog::level::warn,
                st->opts.spec.log_lines_per_s,
                st->opts.dropped,
                window,
                {}};
  bool out_open = true;
  bool err_open = true;
  int status = 0;
  while (true) {
    pollfd fds[3] = {{st->pidfd, POLLIN, 0},
                     {out_open ? out_fd : -1, POLLIN, 0},
                     {err_open ? err_fd : -1, POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) {
        continue;
      }
      break;
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      out_open = drain(out_fd, out);
    }
    if ((fds[2].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
      err_open = drain(err_fd, err);
    }
    if ((fds[0].revents & POLLIN) != 0) {
      break;
    }
  }
  // MuonTrap's rule: the program's end is the end of all it started. Until
  // it is reaped its pid (the group's id) cannot be reused.
  st->signal_all(SIGKILL);
  while (::waitpid(st->pid, &status, 0) < 0 && errno == EINTR) {
  }
  st->ended = true;
  if (st->cgroup) {
    for (int i = 0; i < 100 && !st->cgroup->processes().empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
  }
  // What is left in the pipes (their writers are gone now, or killed).
  for (int i = 0; i < 50 && (out_open || err_open); ++i) {
    pollfd fds[2] = {{out_open ? out_fd : -1, POLLIN, 0}, {err_open ? err_fd : -1, POLLIN, 0}};
    if (::poll(fds, 2, 10) <= 0) {
      break;
    }
    if (fds[0].revents != 0) {
      out_open = drain(out_fd, out);
    }
    if (fds[1].revents != 0) {
      err_open = drain(err_fd, err);
    }
  }
  out.flush();
  err.flush();
  ::close(out_fd);
  ::close(err_fd);
  caf::anon_send(self, daemon_exited_atom::value, status);
}

caf::error start_failure(const std::string& name, const std::string& why) {
  return runtime::make_error(runtime::spawn_errc::exec_failed, "daemon " + name + ": " + why);
}

}  // namespace

supervisors::start_fn daemon_process_start(daemon_run_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto st = std::make_shared<run_state>();
    st->opts = opts;
    const auto& spec = opts.spec;
    std::string cgroup_text;
    auto cg = memory_cgroup::create(spec.name, spec.memory_limit_mb * 1024 * 1024, "daemon");
    if (cg) {
      st->cgroup = std::move(*cg);
      cgroup_text = st->cgroup->path();
      if (spec.cpu_weight > 0) {
        std::string w = std::to_string(spec.cpu_weight);
        int fd = ::open((cgroup_text + "/cpu.weight").c_str(), O_WRONLY | O_CLOEXEC);
        if (fd < 0 || ::write(fd, w.data(), w.size()) != static_cast<ssize_t>(w.size())) {
          log()->warn("daemon {}: cpu.weight not applied (the cpu controller is not enabled)",
                      spec.name);
        }
        if (fd >= 0) {
          ::close(fd);
        }
      }
    } else {
      auto why = runtime::describe(cg.error());
      if (spec.memory_limit_mb > 0) {
        log()->warn("daemon {}: memory limit not applied: {}", spec.name, why);
      }
      // Without a memory controller a cgroup still finds every descendant,
      // also one that left the process group (setsid).
      if (auto plain = memory_cgroup::create_plain(spec.name, "daemon")) {
        st->cgroup = std::move(*plain);
        cgroup_text = st->cgroup->path() + " (no limits: " + why + ")";
      } else {
        cgroup_text = "none: " + why;
      }
    }
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
      return start_failure(spec.name, std::string{"pipe: "} + std::strerror(errno));
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return start_failure(spec.name, std::string{"pipe: "} + std::strerror(errno));
    }
    int procs = st->cgroup ? ::open(st->cgroup->procs_file().c_str(), O_WRONLY | O_CLOEXEC) : -1;
    runtime::spawn_options so;
    so.argv = spec.command;
    so.search_path = spec.command[0].find('/') == std::string::npos;
    so.out = runtime::spawn_stdio::from(out[1]);
    so.err = runtime::spawn_stdio::from(err[1]);
    so.new_process_group = true;
    so.env = environment_with(spec.env);
    so.work_dir = spec.work_dir;
    so.uid = opts.uid;
    so.gid = opts.gid;
    so.cgroup_procs_fd = procs;
    auto child = runtime::spawn(so);
    ::close(out[1]);
    ::close(err[1]);
    if (procs >= 0) {
      ::close(procs);
    }
    if (!child) {
      ::close(out[0]);
      ::close(err[0]);
      return child.error();
    }
    st->pid = child->pid;
    st->guard = std::move(child->guard);
    st->pidfd = static_cast<int>(::syscall(SYS_pidfd_open, st->pid, 0));
    if (st->pidfd < 0) {
      auto why = std::string{"pidfd_open: "} + std::strerror(errno);
      ::close(out[0]);
      ::close(err[0]);
      return start_failure(spec.name, why);  // the state's end kills it
    }
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    ::fcntl(err[0], F_SETFL, O_NONBLOCK);
    auto self = sys.spawn([st](caf::event_based_actor* self) -> caf::behavior {
      self->attach_functor([st] {
        // Keeps the state (and its last-resort kill) until the actor is gone.
        st->signal_all(SIGKILL);
      });
      self->set_exit_handler([self, st](caf::exit_msg& msg) {
        if (st->stopping) {
          return;
        }
        st->stopping = true;
        st->stop_reason = msg.reason;
        if (st->ended.load()) {
          self->quit(msg.reason);
          return;
        }
        st->signal_all(SIGTERM);
        actors::self_timer(self, st->opts.spec.stop_timeout, daemon_kill_atom::value);
      });
      return {
          [st](daemon_kill_atom) {
            if (!st->ended.load()) {
              log()->warn("daemon {}: still running {} ms after SIGTERM: SIGKILL",
                          st->opts.spec.name, st->opts.spec.stop_timeout.count());
              st->signal_all(SIGKILL);
            }
          },
          [self, st](daemon_exited_atom, int status) {
            auto how = runtime::describe_wait_status(status);
            caf::anon_send(st->opts.manager, daemon_event_atom::value, st->opts.spec.name,
                           std::string{"exited"}, int64_t{-1}, st->stopping ? "stopped" : how);
            if (st->stopping) {
              self->quit(st->stop_reason);
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
              self->quit(caf::exit_reason::normal);
            } else {
              self->quit(runtime::make_error(runtime::spawn_errc::exited, how));
            }
          },
      };
    });
    st->monitor = runtime::guarded_thread(
        "daemon.watch", [st = st.get(), o = out[0], e = err[0], self] { watch(st, o, e, self); });
    caf::anon_send(opts.manager, daemon_event_atom::value, spec.name, std::string{"running"},
                   int64_t{st->pid}, cgroup_text);
    log()->info("daemon {}: started pid {} ({})", spec.name, st->pid, cgroup_text);
    return self;
  };
}

}  // namespace myelin::bootloader
