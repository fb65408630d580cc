// The one way myelin runs another program: vfork + exec with a clean child.
//
// The child gets the default disposition of every signal (handled and
// ignored ones alike: an ignored signal would survive exec) and an empty
// signal mask (myelin blocks signals for its own threads; a child must not
// inherit that), fds 0-2
// as asked and every other fd closed, optionally its own process group and a
// parent-death signal. Until it execs, every signal is blocked in the parent's
// calling thread, so no handler of myelin's ever runs in the child. The
// errno of a failed exec is reported to the caller (not an exit code 127 to
// guess from). The returned child carries a child_guard: a reaper of every
// child (myelin-boot as PID 1) leaves it to the caller's waitpid.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "myelin/runtime/platform/child_guard.hpp"

namespace myelin::runtime {

/// Why a program could not be run (category "spawn").
enum class spawn_errc : uint8_t {
  /// fork/vfork or a pipe failed (out of processes or memory).
  fork_failed = 1,
  /// The program could not be executed (not found, not executable, ...), or
  /// the child could not join its cgroup, change directory or switch user.
  exec_failed,
  /// It did not end within the time allowed (killed).
  timed_out,
  /// A supervised program ended (how: the context).
  exited,
};

std::string to_string(spawn_errc x);

caf::error make_error(spawn_errc x, std::string context);

/// What fd 0, 1 or 2 of the child is.
struct spawn_stdio {
  /// -1: /dev/null; -2: myelin's own; otherwise this fd of the parent
  /// (dup2'ed; it may be CLOEXEC).
  int fd = -1;
  static spawn_stdio null() { return {-1}; }
  static spawn_stdio inherit() { return {-2}; }
  static spawn_stdio from(int fd) { return {fd}; }
};

struct spawn_options {
  /// argv[0] is the program: a path, or a bare name looked up on PATH when
  /// search_path is set.
  std::vector<std::string> argv;
  bool search_path = false;
  spawn_stdio in, out, err;
  /// Its own process group (kill(-pid) reaches its children too).
  bool new_process_group = true;
  /// Sent to the child when the spawning thread's process ends (0: none).
  int parent_death_signal = 0;
  /// The environment, each "KEY=VALUE"; empty: this process's.
  std::vector<std::string> env;
  /// The working directory; empty: this process's.
  std::string work_dir;
  /// Run as this group and user (supplementary groups dropped); -1: as we run.
  gid_t gid = static_cast<gid_t>(-1);
  uid_t uid = static_cast<uid_t>(-1);
  /// An open cgroup.procs file (of cgroup v2) the child joins before it
  /// execs, so that everything it forks is in that cgroup; -1: none.
  int cgroup_procs_fd = -1;
};

/// A running child. Destroying it neither kills nor waits for it.
struct spawned_child {
  pid_t pid = -1;
  std::unique_ptr<child_guard> guard;
};

/// Starts the program. Errors: fork_failed, exec_failed (with strerror of
/// the exec's errno and the program's name).
caf::expected<spawned_child> spawn(const spawn_options& opts);

/// How a program ended.
struct run_outcome {
  /// The wait status (WIFEXITED, WEXITSTATUS, WIFSIGNALED ...).
  int status = 0;
  /// What it wrote to stdout (and stderr, with merge_stderr), at most
  /// max_output bytes.
  std::string output;
};

struct run_options {
  spawn_options spawn;
  /// Capture stdout (spawn.out is ignored then).
  bool capture = false;
  bool merge_stderr = false;
  size_t max_output = 64 * 1024;
  /// Past max_output keep the end (where a tool says what went wrong), not
  /// the beginning.
  bool keep_end = false;
  /// Killed (its whole process group) after this long; 0: no limit.
  std::chrono::milliseconds timeout{0};
};

/// Runs the program to its end. Errors: fork_failed, exec_failed, timed_out
/// (the child was killed and reaped; the output so far is lost).
caf::expected<run_outcome> run_program(run_options opts);

/// "exited with code N" / "killed by signal N (SIGX)".
std::string describe_wait_status(int status);

}  // namespace myelin::runtime
