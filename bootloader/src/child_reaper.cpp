// Reaps child processes.
#include "child_reaper.hpp"

#include <sys/wait.h>

#include <cerrno>
#include <vector>

namespace myelin::bootloader {

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

int child_reaper::reap() {
  // Only watched children are collected: other code that forks (a serial
  // number script, a power command) waits for its own children by pid, and a
  // waitpid(-1) here would steal their status.
  std::vector<pid_t> pids;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (const auto& [pid, cb] : watched_) {
      pids.push_back(pid);
    }
  }
  int count = 0;
  for (auto pid : pids) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) != pid) {
      continue;
    }
    callback cb;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto i = watched_.find(pid);
      if (i == watched_.end()) {
        continue;
      }
      cb = std::move(i->second);
      watched_.erase(i);
    }
    ++count;
    cb(status);
  }
  return count;
}

}  // namespace myelin::bootloader
