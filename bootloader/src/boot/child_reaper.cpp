// Reaps child processes.
#include "boot/child_reaper.hpp"

#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "myelin/runtime/platform/child_guard.hpp"

namespace myelin::bootloader {

namespace {

using steady = std::chrono::steady_clock;

/// The pids of our children that are zombies, from /proc (waitid can only
/// show one of them at a time, and that one may be awaited by other code).
std::vector<pid_t> zombie_children() {
  std::vector<pid_t> out;
  auto self = ::getpid();
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) {
    return out;
  }
  while (auto* e = ::readdir(dir)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') {
      continue;
    }
    std::ifstream in(std::string{"/proc/"} + e->d_name + "/stat");
    std::string stat;
    std::getline(in, stat);
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    auto close = stat.rfind(')');
    if (close == std::string::npos || close + 4 > stat.size()) {
      continue;
    }
    char state = stat[close + 2];
    long ppid = std::strtol(stat.c_str() + close + 4, nullptr, 10);
    if (state == 'Z' && ppid == self) {
      out.push_back(static_cast<pid_t>(pid));
    }
  }
  ::closedir(dir);
  return out;
}

}  // namespace

child_reaper& child_reaper::instance() {
  static child_reaper reaper;
  return reaper;
}

void child_reaper::watch(pid_t pid, callback cb) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    watched_[pid] = std::move(cb);
  }
  // It may have exited before it was watched.
  reap();
}

void child_reaper::forget(pid_t pid) {
  std::lock_guard<std::mutex> guard{mtx_};
  watched_.erase(pid);
}

void child_reaper::forget_all() {
  std::lock_guard<std::mutex> guard{mtx_};
  watched_.clear();
}

void child_reaper::reap_all(bool on) {
  std::lock_guard<std::mutex> guard{mtx_};
  reap_all_ = on;
}

bool child_reaper::has_unclaimed() {
  std::lock_guard<std::mutex> guard{mtx_};
  return !unclaimed_.empty();
}

bool child_reaper::reap_watched(pid_t pid, int& count) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (watched_.count(pid) == 0) {
      return false;
    }
  }
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) != pid) {
    return true;
  }
  callback cb;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = watched_.find(pid);
    if (i == watched_.end()) {
      return true;
    }
    cb = std::move(i->second);
    watched_.erase(i);
  }
  ++count;
  cb(status);
  return true;
}

int child_reaper::reap() {
  // Watched children first. In host mode nothing else is collected: other
  // code that forks (a serial number script, a power command) waits for its
  // own children by pid, and a waitpid(-1) here would steal their status.
  std::vector<pid_t> pids;
  bool all = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& [pid, cb] : watched_) {
      pids.push_back(pid);
    }
    all = reap_all_;
  }
  int count = 0;
  for (auto pid : pids) {
    reap_watched(pid, count);
  }
  if (all) {
    reap_unwatched(count);
  }
  return count;
}

void child_reaper::reap_unwatched(int& count) {
  // Peek without reaping: is any child a zombie at all? (Cheap; the /proc scan
  // below runs only when one is.)
  siginfo_t info{};
  if (::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) {
    std::lock_guard<std::mutex> guard{mtx_};
    unclaimed_.clear();
    return;
  }
  auto zombies = zombie_children();
  if (zombies.empty()) {
    // /proc shows another PID namespace (or none): go by the one peeked.
    zombies.push_back(info.si_pid);
  }
  auto now = steady::now();
  std::unordered_set<pid_t> seen;
  for (auto pid : zombies) {
    if (reap_watched(pid, count) || runtime::child_awaited_elsewhere(pid)) {
      continue;
    }
    seen.insert(pid);
    bool due = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto [i, fresh] = unclaimed_.emplace(pid, now);
      due = !fresh && now - i->second >= unclaimed_grace;
    }
    // Watched in the meantime? Then its owner gets the status.
    if (due && !reap_watched(pid, count) && !runtime::child_awaited_elsewhere(pid)) {
      int status = 0;
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        ++count;
      }
      seen.erase(pid);
    }
  }
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto i = unclaimed_.begin(); i != unclaimed_.end();) {
    i = seen.count(i->first) != 0 ? std::next(i) : unclaimed_.erase(i);
  }
}

}  // namespace myelin::bootloader
