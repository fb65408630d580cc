// Memory limits of app hosts through cgroup v2: one child cgroup per app-host
// process, with memory.max, removed when the process has exited. Where no
// cgroup2 hierarchy with a usable memory controller exists, callers fall back
// to RLIMIT_AS (see app_host.cpp and docs/writing-an-app.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include <caf/expected.hpp>

namespace myelin::bootloader {

class memory_cgroup {
 public:
  /// The cgroup v2 directory of this process, from /proc/self/mountinfo and
  /// /proc/self/cgroup (their texts, for tests). Errors: no cgroup2 mount, no
  /// "0::" line.
  static caf::expected<std::string> own_directory(const std::string& mountinfo,
                                                  const std::string& proc_cgroup);

  /// The directory under which app-host cgroups are created, set up once per
  /// process: the memory controller is enabled for the children of this
  /// process's cgroup (moving myelin-boot into a `myelin-boot` leaf first when
  /// the kernel asks for it). Errors say why cgroups cannot be used.
  static caf::expected<std::string> parent();

  /// Creates `<parent>/myelin-<kind>-<name>-<n>` with memory.max =
  /// `limit_bytes` (0: no limit) and no swap. Errors: as parent(), or the
  /// directory or limit could not be written (nothing is left behind).
  static caf::expected<memory_cgroup> create(const std::string& name, uint64_t limit_bytes,
                                             const std::string& kind = "app");

  /// A cgroup without controllers under this process's own: enough to find
  /// and kill every process started in it (no memory controller needed, no
  /// "no internal processes" rule). Errors: no cgroup v2, mkdir failed.
  static caf::expected<memory_cgroup> create_plain(const std::string& name,
                                                   const std::string& kind);

  memory_cgroup() = default;

  /// The cgroup's directory.
  const std::string& path() const { return path_; }

  /// Its cgroup.procs file: a forked child writes "0" to it to join.
  const std::string& procs_file() const { return procs_; }

  /// The processes in it now (cgroup.procs).
  std::vector<pid_t> processes() const;

  /// SIGKILL to every process in it (cgroup.kill, else cgroup.procs).
  void kill_all() const;

  /// How often the kernel's OOM killer killed a process in it (memory.events).
  uint64_t oom_kills() const;

  /// Removes the directory; the process in it must have exited. Retries for a
  /// second (on a thread of its own) while the kernel still counts it.
  void remove() const;

 private:
  std::string path_;
  std::string procs_;
};

}  // namespace myelin::bootloader
