// One run of a supervised program: the worker `process` under each daemon's
// supervisor (see myelin/bootloader/daemons.hpp).
//
// Started by its supervisor: creates the cgroup (where it can), spawns the
// program and a monitor thread (output into the log, the program's end);
// answers nothing. When the program ends it kills every descendant and
// exits: normal for exit code 0, else spawn_errc::exited with how. An exit
// message (a stop) sends SIGTERM to the whole process group and cgroup,
// SIGKILL after stop_timeout, and exits once the program is gone. Its state's
// destructor kills whatever is left, so not even a brutal kill of the actor
// leaves a process behind.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <memory>

#include <caf/actor.hpp>

#include "myelin/bootloader/daemons.hpp"

namespace myelin::bootloader {

struct daemon_run_options {
  daemon_spec spec;
  uid_t uid = static_cast<uid_t>(-1);
  gid_t gid = static_cast<gid_t>(-1);
  /// Gets (daemon_event_atom, name, event, pid, detail): "running" with the
  /// cgroup text, "exited" with how.
  caf::actor manager;
  /// Output lines dropped over the rate limit, over all runs.
  std::shared_ptr<std::atomic<uint64_t>> dropped;
};

supervisors::start_fn daemon_process_start(daemon_run_options opts);

}  // namespace myelin::bootloader
