// Per-app-host memory cgroups (cgroup v2).
#include "myelin/bootloader/memory_cgroup.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "myelin/bootloader/apps.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/thread_name.hpp"

namespace myelin::bootloader {

namespace {

using namespace std::chrono_literals;

caf::error failed(const std::string& why) {
  return make_error(app_errc::start_failed, "memory cgroup: " + why);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Writes `text` to a control file; errno describes a failure.
bool write_text(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return false;
  }
  auto n = ::write(fd, text.data(), text.size());
  int saved = errno;
  ::close(fd);
  errno = saved;
  return n == static_cast<ssize_t>(text.size());
}

bool has_word(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  for (std::string w; in >> w;) {
    if (w == word) {
      return true;
    }
  }
  return false;
}

/// Enables the memory controller for the children of `dir`.
caf::expected<std::string> set_up(const std::string& dir) {
  if (!has_word(read_text(dir + "/cgroup.controllers"), "memory")) {
    return failed("the memory controller is not available in " + dir);
  }
  if (has_word(read_text(dir + "/cgroup.subtree_control"), "memory")) {
    return dir;
  }
  if (write_text(dir + "/cgroup.subtree_control", "+memory")) {
    return dir;
  }
  if (errno != EBUSY) {
    return failed("cannot enable memory in " + dir +
                  "/cgroup.subtree_control: " + std::strerror(errno));
  }
  // No internal processes: myelin-boot moves into a leaf of its own first,
  // but only when it is alone in its cgroup (else enabling fails anyway).
  std::istringstream procs(read_text(dir + "/cgroup.procs"));
  for (std::string pid; procs >> pid;) {
    if (pid != std::to_string(::getpid())) {
      return failed("cannot enable memory in " + dir + ": other processes share the cgroup");
    }
  }
  auto leaf = dir + "/myelin-boot";
  if (::mkdir(leaf.c_str(), 0755) != 0 && errno != EEXIST) {
    return failed("cannot create " + leaf + ": " + std::strerror(errno));
  }
  if (!write_text(leaf + "/cgroup.procs", "0")) {
    return failed("cannot move myelin-boot into " + leaf + ": " + std::strerror(errno));
  }
  if (!write_text(dir + "/cgroup.subtree_control", "+memory")) {
    return failed("cannot enable memory in " + dir + "/cgroup.subtree_control: " +
                  std::strerror(errno) + " (other processes share the cgroup)");
  }
  return dir;
}

}  // namespace

caf::expected<std::string> memory_cgroup::own_directory(const std::string& mountinfo,
                                                        const std::string& proc_cgroup) {
  std::string mount;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    // id parent major:minor root mount-point options [optional...] - fstype source super
    auto dash = line.find(" - ");
    if (dash == std::string::npos) {
      continue;
    }
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") {
      continue;
    }
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, dev, root, point;
    head >> id >> parent >> dev >> root >> point;
    if (root == "/" && !point.empty()) {
      mount = point;
      break;
    }
  }
  if (mount.empty()) {
    return failed("no cgroup2 hierarchy is mounted");
  }
  std::istringstream groups(proc_cgroup);
  for (std::string line; std::getline(groups, line);) {
    if (line.rfind("0::", 0) == 0) {
      auto rel = line.substr(3);
      if (rel.empty() || rel[0] != '/' || rel.find("/..") != std::string::npos) {
        return failed("unexpected cgroup path '" + rel + "'");
      }
      return rel == "/" ? mount : mount + rel;
    }
  }
  return failed("this process has no cgroup v2 path");
}

caf::expected<std::string> memory_cgroup::parent() {
  static std::once_flag once;
  static caf::expected<std::string> result{caf::error{}};
  std::call_once(once, [] {
    auto own = own_directory(read_text("/proc/self/mountinfo"), read_text("/proc/self/cgroup"));
    result = own ? set_up(*own) : caf::expected<std::string>{own.error()};
  });
  return result;
}

caf::expected<memory_cgroup> memory_cgroup::create(const std::string& name, uint64_t limit_bytes,
                                                   const std::string& kind) {
  auto base = parent();
  if (!base) {
    return base.error();
  }
  static std::atomic<uint64_t> counter{0};
  memory_cgroup cg;
  cg.path_ = *base + "/myelin-" + kind + "-" + name + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(++counter);
  cg.procs_ = cg.path_ + "/cgroup.procs";
  if (::mkdir(cg.path_.c_str(), 0755) != 0) {
    return failed("cannot create " + cg.path_ + ": " + std::strerror(errno));
  }
  auto max = limit_bytes == 0 ? std::string{"max"} : std::to_string(limit_bytes);
  if (!write_text(cg.path_ + "/memory.max", max)) {
    auto err = failed("cannot write " + cg.path_ + "/memory.max: " + std::strerror(errno));
    ::rmdir(cg.path_.c_str());
    return err;
  }
  // Swap would let the app grow past the limit at the device's expense.
  write_text(cg.path_ + "/memory.swap.max", "0");
  return cg;
}

std::vector<pid_t> memory_cgroup::processes() const {
  std::vector<pid_t> out;
  std::istringstream in(read_text(procs_));
  for (pid_t pid = 0; in >> pid;) {
    out.push_back(pid);
  }
  return out;
}

void memory_cgroup::kill_all() const {
  // cgroup.kill (Linux 5.14) kills every process in it at once, also those
  // forking meanwhile; before it, a few passes over cgroup.procs.
  if (write_text(path_ + "/cgroup.kill", "1")) {
    return;
  }
  for (int pass = 0; pass < 5; ++pass) {
    auto pids = processes();
    if (pids.empty()) {
      return;
    }
    for (auto pid : pids) {
      ::kill(pid, SIGKILL);
    }
  }
}

caf::expected<memory_cgroup> memory_cgroup::create_plain(const std::string& name,
                                                         const std::string& kind) {
  auto own = own_directory(read_text("/proc/self/mountinfo"), read_text("/proc/self/cgroup"));
  if (!own) {
    return own.error();
  }
  static std::atomic<uint64_t> counter{0};
  memory_cgroup cg;
  cg.path_ = *own + "/myelin-" + kind + "-" + name + "-" + std::to_string(::getpid()) + "-p" +
             std::to_string(++counter);
  cg.procs_ = cg.path_ + "/cgroup.procs";
  if (::mkdir(cg.path_.c_str(), 0755) != 0) {
    return failed("cannot create " + cg.path_ + ": " + std::strerror(errno));
  }
  return cg;
}

uint64_t memory_cgroup::oom_kills() const {
  std::istringstream in(read_text(path_ + "/memory.events"));
  for (std::string key; in >> key;) {
    uint64_t value = 0;
    in >> value;
    if (key == "oom_kill") {
      return value;
    }
  }
  return 0;
}

void memory_cgroup::remove() const {
  if (::rmdir(path_.c_str()) == 0 || errno != EBUSY) {
    return;
  }
  // The kernel may still count the process for a moment after it was reaped:
  // retry off the caller's thread (an actor's).
  runtime::guarded_thread("cgroup.rmdir", [path = path_] {
    for (int attempt = 0; attempt < 100; ++attempt) {
      std::this_thread::sleep_for(10ms);
      if (::rmdir(path.c_str()) == 0 || errno != EBUSY) {
        return;
      }
    }
  }).detach();
}

}  // namespace myelin::bootloader
