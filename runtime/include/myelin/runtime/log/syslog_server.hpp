// The syslog socket (/dev/log on a device): a unix datagram server on a thread
// of its own that parses each datagram and hands it to the log hub.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <caf/expected.hpp>

#include "myelin/runtime/log/log_hub.hpp"
#include "myelin/runtime/platform/stop_signal.hpp"

namespace myelin::runtime {

struct syslog_server_options {
  std::string path = "/dev/log";
  /// Receive buffer per datagram; longer datagrams are cut (and counted).
  size_t max_datagram = 8192;
  /// SO_RCVBUF of the socket.
  int receive_buffer = 1 << 20;
  /// Called when the reader thread fails (an exception): the owner ends.
  std::function<void(const std::string&)> on_failure;
};

/// Serves a unix datagram socket at `path`:
/// - each datagram is parsed by parse_syslog_message and dispatched with
///   level = its severity (0-2 critical, 3 error, 4 warn, 5-6 info, 7 debug);
/// - ident `app/<name>` is an application's record (origin app, source
///   <name>; the app hosts log this way); any other ident gives source
///   `syslog:<ident>` (`syslog` without one);
/// - malformed datagrams (no valid <PRI>) are counted and kept as raw text
///   at level info; empty ones are counted; over-long ones are cut and
///   counted.
/// The socket is made writable by everyone (0666), as /dev/log is. A stale
/// socket left at `path` is replaced; a file that is not a socket, or a
/// socket another process still serves, is an error.
/// Which uid each app host runs as (set when it starts, decision 0079), for
/// the syslog server's check of who claims to be which app.
class app_users {
 public:
  static void set(const std::string& app, uint32_t uid);
  /// The app's uid, or -1 when it has none of its own.
  static int64_t of(std::string_view app);
};

class syslog_server {
 public:
  syslog_server(std::shared_ptr<log_hub> hub, syslog_server_options opts);
  ~syslog_server();

  syslog_server(const syslog_server&) = delete;
  syslog_server& operator=(const syslog_server&) = delete;

  /// Binds the socket and starts the thread. Errors: log_errc::cannot_bind
  /// (path too long, directory missing, not a socket, ...), log_errc::in_use.
  caf::error start();

  /// Stops and joins the thread, removes the socket; idempotent.
  void stop();

  const std::string& path() const { return opts_.path; }

  /// What the thread does with one datagram (`truncated`: it was longer than
  /// the buffer; `sender`: the uid the kernel vouches for, -1 when unknown).
  /// A record claiming `app/<name>` from a user other than that app's (see
  /// app_users), root or this process's is logged as what it is: a syslog
  /// record of that uid, "[claims app/<name>]" (decision 0079). Public for
  /// tests and the benchmark.
  void on_datagram(std::string_view data, bool truncated, int64_t sender = -1);

 private:
  void run(const stop_signal& stop);

  std::shared_ptr<log_hub> hub_;
  syslog_server_options opts_;
  int fd_ = -1;
  /// The inode we bound, so that stop() removes our socket only.
  uint64_t inode_ = 0;
  service_thread thread_;
};

}  // namespace myelin::runtime
