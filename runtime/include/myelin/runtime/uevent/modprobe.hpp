// Runs modprobe for a batch of module aliases (the MODALIAS of add uevents).
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace myelin::runtime {

/// How one modprobe run ended.
struct modprobe_result {
  /// True when the program ran and exited 0, or exited 1 without a word
  /// (under -q: some aliases have no module, the usual case).
  bool ok = false;
  /// "exited with code 1: <what it printed>", "killed by signal 9 (timeout)",
  /// "cannot start: ...", "some aliases have no module".
  std::string outcome;
  /// Exited 1 silently: the batch ran, some aliases matched no module.
  bool unmatched = false;
};

/// Runs `<program> -a -q -b -- alias...` (load every alias, quietly, honouring
/// the blacklist) and waits for it, at most `timeout` (then SIGKILL). stdin
/// is /dev/null, stdout and stderr are captured (the end, 4 KiB) into the
/// outcome; the signal mask is cleared in the child.
/// Blocking: call it from a thread of its own, never from an actor.
modprobe_result run_modprobe(const std::string& program, const std::vector<std::string>& aliases,
                             std::chrono::milliseconds timeout);

/// Runs `<program> -a -- module...` for modules the configuration names
/// (uevent.modules): not quiet and without the blacklist, so a module that is
/// missing or fails is an error with modprobe's words.
modprobe_result load_modules(const std::string& program, const std::vector<std::string>& modules,
                             std::chrono::milliseconds timeout);

}  // namespace myelin::runtime
