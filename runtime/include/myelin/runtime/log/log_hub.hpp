// myelin's logging: spdlog is the one path. The hub owns the sinks every logger
// of the process shares — the console (stdout, or /dev/kmsg as PID 1 on a
// device), the ring that `myelin logs` reads, and optional extra sinks such as
// the rotating file — and takes the records of the kmsg and syslog tailers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <spdlog/logger.h>
#include <spdlog/sinks/dist_sink.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/log/log_ring.hpp"

namespace myelin::runtime {

/// Errors of the log service; the error context says more.
enum class log_errc : uint8_t {
  /// The kmsg device or the log file could not be opened.
  cannot_open = 1,
  /// The syslog socket could not be created or bound.
  cannot_bind,
  /// Another process serves the syslog socket already.
  in_use,
};

caf::error make_error(log_errc x, std::string context);

/// What the tailers counted (read by GET /v1/logs/stats).
struct log_counters {
  std::atomic<uint64_t> kmsg_records{0};
  /// Records the kernel overwrote before we read them (sequence gaps).
  std::atomic<uint64_t> kmsg_lost{0};
  /// read() answered EPIPE (the position was overwritten).
  std::atomic<uint64_t> kmsg_overruns{0};
  std::atomic<uint64_t> kmsg_malformed{0};
  /// The newest sequence number read, so that a restarted tailer does not
  /// read the kernel's buffer again.
  std::atomic<uint64_t> kmsg_last_seq{0};
  std::atomic<uint64_t> syslog_records{0};
  /// Datagrams without a valid <PRI> (kept as raw text) or empty.
  std::atomic<uint64_t> syslog_malformed{0};
  /// Datagrams longer than the receive buffer (kept, cut).
  std::atomic<uint64_t> syslog_truncated{0};
};

/// How the process logs (the [log] section).
struct logging_options {
  spdlog::level::level_enum level = spdlog::level::info;
  /// "stdout", "kmsg" or "none"; see logging_options_from for "auto".
  std::string console = "stdout";
  /// Where the kmsg console writes.
  std::string kmsg_path = "/dev/kmsg";
  size_t ring_size = 4096;
  size_t max_message = 2048;
};

/// The sinks of the process and the ring.
class log_hub {
 public:
  explicit log_hub(const logging_options& opts);

  log_hub(const log_hub&) = delete;
  log_hub& operator=(const log_hub&) = delete;

  const std::shared_ptr<log_ring>& ring() const { return ring_; }
  log_counters& counters() { return counters_; }
  spdlog::level::level_enum level() const { return level_; }
  /// Names this hub among all runs of the device ("<pid>-<start µs>"): when it
  /// changes, sequence numbers started over (GET /v1/logs "boot").
  const std::string& boot_id() const { return boot_id_; }

  /// The logger `name` from spdlog's registry with this hub's sinks; created
  /// and registered if missing.
  std::shared_ptr<spdlog::logger> logger(const std::string& name);

  /// Gives a logger this hub's sinks (replacing the ones it had).
  void adopt(spdlog::logger& l) const;

  /// A record that did not come through a logger (kernel, syslog, app).
  /// Below the hub's level it is dropped. It goes to the ring and the extra
  /// sinks; syslog and app records also to a stdout console (never into
  /// /dev/kmsg, where they would push the kernel's own lines out of its
  /// buffer; kernel records are there already).
  void dispatch(spdlog::level::level_enum level, log_origin origin, std::string_view source,
                std::string_view message);

  /// Adds / removes an extra sink (the rotating file).
  void add_sink(spdlog::sink_ptr sink);
  void remove_sink(const spdlog::sink_ptr& sink);

  /// The hub of this process (set by start_logging), or null.
  static std::shared_ptr<log_hub> current();
  static void set_current(std::shared_ptr<log_hub> hub);

 private:
  spdlog::level::level_enum level_;
  std::string boot_id_;
  std::shared_ptr<log_ring> ring_;
  spdlog::sink_ptr ring_sink_;
  spdlog::sink_ptr console_;
  std::shared_ptr<spdlog::sinks::dist_sink_mt> extra_;
  /// Whether dispatched records are printed on the console (not on kmsg).
  bool echo_ = true;
  log_counters counters_;
};

/// The [log] options of `cfg`. log.console = "auto" is "kmsg" when this
/// process is PID 1 of the initial PID namespace (a real device), else
/// "stdout".
logging_options logging_options_from(const config& cfg);

/// The syslog socket path: log.syslog_socket, relative paths taken from
/// state.dir (made absolute from the working directory).
std::string syslog_socket_path(const config& cfg);

/// The environment variable that tells app hosts where to send their logs.
inline constexpr const char* log_socket_env = "MYELIN_LOG_SOCKET";

/// Sets up the logging of myelin-boot from `cfg`: a hub that becomes
/// current, every logger already registered adopted, `boot` the default,
/// the level set. Exports $MYELIN_LOG_SOCKET (log.syslog on) for the app
/// hosts; call it before any thread exists (setenv).
std::shared_ptr<log_hub> start_logging(const config& cfg);

}  // namespace myelin::runtime
