// Memory limits of app hosts through cgroup v2: one child cgroup per app-host
// process, with memory.max, removed when the process has exited. Where no
// cgroup2 hierarchy with a usable memory controller exists, callers fall back
// to RLIMIT_AS (see app_host.cpp and docs/writing-an-app.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

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

  /// Creates `<parent>/myelin-app-<name>-<n>` with memory.max = `limit_bytes`
  /// (and no swap). Errors: as parent(), or the directory or limit could not
  /// be written (nothing is left behind).
  static caf::expected<memory_cgroup> create(const std::string& name, uint64_t limit_bytes);

  memory_cgroup() = default;

  /// The cgroup's directory.
  const std::string& path() const { return path_; }

  /// Its cgroup.procs file: a forked child writes "0" to it to join.
  const std::string& procs_file() const { return procs_; }

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
