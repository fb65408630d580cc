// Reaps the child processes of myelin-boot: the ones it watches (app hosts),
// handing each exit's wait status to its owner, and, as PID 1, every other
// child too (orphans re-parented to us), except those other code waits for by
// pid (runtime::child_guard).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <unordered_map>

namespace myelin::bootloader {

class child_reaper {
 public:
  using callback = std::function<void(int wait_status)>;

  /// How long an exited child nobody watches stays a zombie before it is
  /// reaped in reap-all mode. A child forked by code that watches it only
  /// afterwards (an app host: fork, then its actor calls watch) must not lose
  /// its status to us in between.
  static constexpr std::chrono::milliseconds unclaimed_grace{500};

  static child_reaper& instance();

  /// Calls `cb` once `pid` has exited (at once if it already has).
  void watch(pid_t pid, callback cb);

  /// Stops watching `pid` (its status is then simply discarded).
  void forget(pid_t pid);

  /// Stops watching every pid (the actor system that owned them is gone);
  /// in reap-all mode their exits are then reaped like orphans.
  void forget_all();

  /// Reap-all mode (PID 1): reap() also collects children nobody watches,
  /// unless runtime::child_awaited_elsewhere(pid). Off by default (host mode:
  /// only watched pids, other code's children are never touched).
  void reap_all(bool on);

  /// Collects every watched child that has exited and, in reap-all mode, the
  /// unwatched ones that exited at least unclaimed_grace ago; called on
  /// SIGCHLD. Returns how many were reaped.
  int reap();

  /// Whether exited children wait for their grace period to pass: call reap()
  /// again soon (no SIGCHLD will come for them).
  bool has_unclaimed();

 private:
  /// Reaps `pid` if it is watched; false if it is not watched.
  bool reap_watched(pid_t pid, int& count);
  void reap_unwatched(int& count);

  std::mutex mtx_;
  std::unordered_map<pid_t, callback> watched_;
  bool reap_all_ = false;
  /// Unwatched zombies and when they were first seen.
  std::unordered_map<pid_t, std::chrono::steady_clock::time_point> unclaimed_;
};

}  // namespace myelin::bootloader
