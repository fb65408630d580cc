// The log service: the core service that owns the tailers of the kernel log
// (/dev/kmsg) and of the syslog socket (/dev/log), and the rotating log file.
// The records themselves go through runtime::log_hub (spdlog sinks and the
// ring), on the tailers' own threads: no record passes through this actor.
//
// Protocol:
//   (caf::get_atom) -> std::string   what it serves, e.g.
//        "kmsg /dev/kmsg; syslog /dev/log; file /data/log/myelin.log"
//        (a source that could not start says why)
// Sends nothing on its own. Registered as `log`. Supervised by the core
// supervisor, started first so that every other service's start is logged
// into the ring and file. A tailer that cannot start (no /dev/kmsg in a
// container, the socket path in use) is logged and left out: the device
// still boots. Its exit stops the threads and removes the socket.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <caf/atom.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/log/log_hub.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

inline constexpr caf::atom_value log_registry_name = caf::atom("log");

/// What the log service reads and writes.
struct log_options {
  /// The hub the records go to; null: runtime::log_hub::current().
  std::shared_ptr<runtime::log_hub> hub;
  bool kmsg = true;
  std::string kmsg_path = "/dev/kmsg";
  bool kmsg_replay = true;
  bool syslog = true;
  std::string syslog_socket = "/dev/log";
  /// The rotating file; empty: none.
  std::string file;
  uint64_t file_size = 1 << 20;
  size_t file_count = 3;
};

/// Reads the [log] section; relative paths are taken from `state_dir`.
log_options log_options_from(const runtime::config& cfg, const std::string& state_dir);

/// A start function for the log service.
supervisors::start_fn log_start(log_options opts);

}  // namespace myelin::actors
