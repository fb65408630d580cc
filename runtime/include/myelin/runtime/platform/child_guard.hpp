// Marks child processes that their parent code waits for by pid, so that a
// reaper collecting every child (myelin-boot as PID 1) leaves them alone.
#pragma once

#include <sys/types.h>

namespace myelin::runtime {

/// Registers "this code will waitpid() for its own child" for its lifetime.
/// Create it *before* fork() and call `set(pid)` right after: between the two,
/// every unknown child counts as awaited (its pid is not known yet), so a
/// reaper cannot steal the status in that window. Destroy it after waitpid().
///
/// Code that cannot learn the pid (std::system) keeps a guard without a pid
/// for the whole call: the reaper then leaves every unknown child alone until
/// it ends. Cheap (one mutex); meaningful only to child_awaited_elsewhere().
class child_guard {
 public:
  child_guard();
  ~child_guard();
  child_guard(const child_guard&) = delete;
  child_guard& operator=(const child_guard&) = delete;

  /// The forked child's pid (a negative pid, i.e. fork failed, is ignored).
  void set(pid_t pid);

 private:
  pid_t pid_ = 0;
};

/// True when `pid` is awaited by some child_guard, or when a guard has no pid
/// yet (a fork is in progress, or the pid cannot be known).
bool child_awaited_elsewhere(pid_t pid);

}  // namespace myelin::runtime
