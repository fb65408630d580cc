// Reaps the child processes myelin-boot watches (app hosts) and hands each
// exit's wait status to its owner. (Reaping orphans as PID 1 comes with PID 1
// mode.)
#pragma once

#include <sys/types.h>

#include <functional>
#include <mutex>
#include <unordered_map>

namespace myelin::bootloader {

class child_reaper {
 public:
  using callback = std::function<void(int wait_status)>;

  static child_reaper& instance();

  /// Calls `cb` once `pid` has exited (at once if it already has).
  void watch(pid_t pid, callback cb);

  /// Stops watching `pid` (its status is then simply discarded).
  void forget(pid_t pid);

  /// Collects every watched child that has exited; called on SIGCHLD.
  /// Returns how many were reaped.
  int reap();

 private:
  std::mutex mtx_;
  std::unordered_map<pid_t, callback> watched_;
};

}  // namespace myelin::bootloader
