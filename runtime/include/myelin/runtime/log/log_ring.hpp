// The in-memory ring of log records that `myelin logs` reads: a fixed number of
// records, the oldest overwritten first, each with a sequence number.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/common.h>

namespace myelin::runtime {

/// Where a record came from.
enum class log_origin : uint8_t {
  /// A logger of myelin-boot (source: the logger, e.g. "kv", "boot").
  core,
  /// An application (source: the app's name).
  app,
  /// /dev/kmsg (source: "kernel").
  kernel,
  /// A datagram on the syslog socket (source: "syslog:<ident>", or "syslog").
  syslog,
  /// The stdout/stderr of a supervised program (source: the daemon's name).
  daemon,
};

const char* to_string(log_origin x);

/// One record of the ring.
struct log_record {
  /// 1, 2, 3, ... in arrival order; never reused.
  uint64_t seq = 0;
  std::chrono::system_clock::time_point time;
  spdlog::level::level_enum level = spdlog::level::info;
  log_origin origin = log_origin::core;
  std::string source;
  std::string message;
};

/// Which records a query wants.
struct log_query {
  /// Records after this sequence number, oldest first. nullopt: the newest
  /// `limit` matching records (a tail), oldest first.
  std::optional<uint64_t> since;
  /// Only this source (empty: any).
  std::string source;
  /// Only this origin.
  std::optional<log_origin> origin;
  /// Only records at this level or above.
  spdlog::level::level_enum min_level = spdlog::level::trace;
  /// At most this many records.
  size_t limit = 100;
};

/// The answer to a query.
struct log_page {
  std::vector<log_record> records;
  /// The `since` of the next query: every record up to it has been looked at.
  uint64_t next = 0;
  /// The oldest sequence number still in the ring (0: empty).
  uint64_t first = 0;
  /// The newest sequence number (0: nothing logged yet).
  uint64_t last = 0;
  /// Records after `since` that were overwritten before this query.
  uint64_t dropped = 0;
};

/// A bounded, thread-safe ring of records. Messages are made safe to print
/// (control characters become \xNN) and cut to `max_message` bytes.
class log_ring {
 public:
  /// `capacity` records (at least 1), messages of at most `max_message`
  /// bytes (at least 16) before the cut marker.
  log_ring(size_t capacity, size_t max_message);

  /// Stores a record (its seq is assigned) and wakes waiters; returns its seq.
  uint64_t push(log_record r);

  /// Convenience: a record stamped now.
  uint64_t push(spdlog::level::level_enum level, log_origin origin, std::string_view source,
                std::string_view message);

  log_page query(const log_query& q) const;

  /// Blocks until a record newer than `seq` exists or `deadline` passes;
  /// returns whether one exists.
  bool wait_newer(uint64_t seq, std::chrono::steady_clock::time_point deadline) const;

  size_t capacity() const { return slots_.size(); }
  size_t max_message() const { return max_message_; }
  /// Records in the ring now.
  size_t size() const;
  /// The newest sequence number (0: nothing yet).
  uint64_t last_seq() const;
  /// Records overwritten so far.
  uint64_t overwritten() const;

  /// `text` with control characters escaped as \xNN and cut to `max` bytes
  /// (at a UTF-8 character boundary) with a marker saying how much was cut.
  static std::string clean(std::string_view text, size_t max);

 private:
  mutable std::mutex mtx_;
  mutable std::condition_variable cv_;
  std::vector<log_record> slots_;
  size_t max_message_;
  /// Index of the oldest record, and how many there are.
  size_t head_ = 0;
  size_t count_ = 0;
  uint64_t next_seq_ = 1;
};

/// syslog severity 0..7 -> spdlog level: 0-2 critical, 3 error, 4 warn,
/// 5-6 info, 7 debug.
spdlog::level::level_enum level_of_severity(int severity);

/// spdlog level -> syslog severity (for the kmsg sink and app hosts).
int severity_of_level(spdlog::level::level_enum level);

/// "trace", "debug", "info", "warn", "error", "critical"; nullopt for others.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name);

}  // namespace myelin::runtime
