// Runs modprobe for a batch of module aliases (the MODALIAS of add uevents).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace myelin::runtime {

/// How one modprobe run ended.
struct modprobe_result {
  /// True when the program ran and exited 0.
  bool ok = false;
  /// "exited with code 1", "killed by signal 9 (timeout)", "cannot start: ...".
  std::string outcome;
};

/// Runs `<program> -a -q -b -- alias...` (load every alias, quietly, honouring
/// the blacklist) and waits for it, at most `timeout` (then SIGKILL). stdin,
/// stdout and stderr are /dev/null; the signal mask is cleared in the child.
/// Blocking: call it from a thread of its own, never from an actor.
modprobe_result run_modprobe(const std::string& program, const std::vector<std::string>& aliases,
                             std::chrono::milliseconds timeout);

}  // namespace myelin::runtime
