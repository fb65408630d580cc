// What a process and its children hold in memory, from /proc (status JSON
// "memory", myelin-bench image's image_runtime_pss_kb).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

namespace myelin::runtime {

/// Resident and proportional set sizes, in KiB; -1 where /proc did not say.
struct process_memory {
  int64_t rss_kb = -1;
  /// Shared pages counted once per sharer (smaps_rollup `Pss`).
  int64_t pss_kb = -1;
};

/// Of one process: /proc/<pid>/smaps_rollup (needs the right to ptrace-read
/// it: the same user, or root).
process_memory memory_of(pid_t pid);

/// The direct children of `pid`, from /proc/*/stat (/proc/<pid>/task/<pid>/children
/// needs CONFIG_PROC_CHILDREN).
std::vector<pid_t> children_of(pid_t pid);

/// Of the direct children of `parent` (e.g. myelin-boot's app hosts), summed;
/// `count` is how many were read.
struct children_memory {
  process_memory sum;
  int count = 0;
};
children_memory memory_of_children(pid_t parent);

}  // namespace myelin::runtime
