// mkfs for the application partition, by pid, with a time limit.
#include "format_device.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "myelin/runtime/child_guard.hpp"
#include "myelin/runtime/mount_table.hpp"

namespace myelin::runtime {

namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) {
    out.push_back(w);
  }
  return out;
}

std::vector<std::string> default_dirs() {
  std::vector<std::string> out;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::string p = path;
    size_t start = 0;
    while (start <= p.size()) {
      auto end = p.find(':', start);
      auto dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!dir.empty()) {
        out.push_back(dir);
      }
      if (end == std::string::npos) {
        break;
      }
      start = end + 1;
    }
  }
  // As PID 1 there may be no PATH at all.
  for (const char* d : {"/sbin", "/usr/sbin", "/bin", "/usr/bin"}) {
    out.emplace_back(d);
  }
  return out;
}

// The last `n` lines of `s`, on one line, for an error message.
std::string tail_lines(const std::string& s, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : " | ") + lines[i];
  }
  return out;
}

struct run_result {
  int status = 0;
  bool timed_out = false;
  std::string output;
  std::string spawn_error;
};

// Runs argv (no shell) in its own process group, stdout+stderr captured.
run_result run_with_limit(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  run_result r;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    r.spawn_error = std::string{"pipe: "} + std::strerror(errno);
    return r;
  }
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  // Waited for by pid: a reaper of every child (PID 1) must leave it alone.
  child_guard awaited;
  pid_t pid = fork();
  awaited.set(pid);
  if (pid < 0) {
    r.spawn_error = std::string{"fork: "} + std::strerror(errno);
    close(fds[0]);
    close(fds[1]);
    return r;
  }
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) {
      dup2(devnull, STDIN_FILENO);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      r.timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc <= 0) {
      r.timed_out = rc == 0;
      break;
    }
    char buf[1024];
    auto n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    // Keep the end: that is where mkfs says what went wrong.
    r.output.append(buf, static_cast<size_t>(n));
    if (r.output.size() > 16384) {
      r.output.erase(0, r.output.size() - 8192);
    }
  }
  close(fds[0]);
  if (r.timed_out) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  }
  while (waitpid(pid, &r.status, 0) < 0 && errno == EINTR) {
  }
  return r;
}

}  // namespace

std::string find_mkfs(const std::string& fstype, const std::vector<std::string>& dirs) {
  auto name = "mkfs." + fstype;
  for (const auto& dir : dirs.empty() ? default_dirs() : dirs) {
    auto path = dir + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return {};
}

caf::error format_device(const format_request& req) {
  if (req.fstype != "ext4" && req.fstype != "vfat" && req.fstype != "f2fs") {
    return make_error(mount_errc::bad_config,
                      "cannot format " + req.fstype + ": not one of ext4, vfat, f2fs");
  }
  std::vector<std::string> argv;
  auto mkfs = find_mkfs(req.fstype, req.dirs);
  if (mkfs.empty()) {
    const char* package = req.fstype == "ext4"   ? "e2fsprogs"
                          : req.fstype == "vfat" ? "dosfstools"
                                                 : "f2fs-tools";
    return make_error(mount_errc::mkfs_missing, "mkfs." + req.fstype + " not found (install " +
                                                    package + " in the firmware image)");
  }
  argv.push_back(mkfs);
  if (req.fstype == "ext4") {
    argv.insert(argv.end(), {"-F", "-q"});
  } else if (req.fstype == "f2fs") {
    argv.insert(argv.end(), {"-f", "-q"});
  }
  for (auto& w : split_words(req.mkfs_options)) {
    argv.push_back(std::move(w));
  }
  argv.push_back(req.device);
  auto r = run_with_limit(argv, req.timeout);
  std::string cmd;
  for (const auto& a : argv) {
    cmd += (cmd.empty() ? "" : " ") + a;
  }
  if (!r.spawn_error.empty()) {
    return make_error(mount_errc::format_failed, cmd + ": " + r.spawn_error);
  }
  if (r.timed_out) {
    return make_error(mount_errc::format_failed,
                      cmd + ": killed after " + std::to_string(req.timeout.count()) + " ms");
  }
  if (WIFSIGNALED(r.status)) {
    return make_error(mount_errc::format_failed,
                      cmd + ": killed by signal " + std::to_string(WTERMSIG(r.status)));
  }
  if (WEXITSTATUS(r.status) != 0) {
    auto out = tail_lines(r.output, 3);
    return make_error(
        mount_errc::format_failed,
        cmd + ": exit " + std::to_string(WEXITSTATUS(r.status)) + (out.empty() ? "" : ": " + out));
  }
  return {};
}

}  // namespace myelin::runtime
