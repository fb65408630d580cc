// Reads the kernel log from /dev/kmsg on a thread of its own and hands each
// record to the log hub (source "kernel").
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

struct kmsg_tailer_options {
  std::string path = "/dev/kmsg";
  /// Read the records already in the kernel's buffer (the boot log); false:
  /// only what arrives from now on. Records read before by this process
  /// (an earlier tailer on the same hub) are never read twice.
  bool replay = true;
  /// Called when the reader thread fails (an exception): the owner ends.
  std::function<void(const std::string&)> on_failure;
};

/// One reader of /dev/kmsg. The thread blocks in poll(2) on the device and an
/// eventfd, so stopping it is immediate; it never touches the actor system.
/// - read() returning EPIPE means the kernel overwrote records we had not
///   read: counted (kmsg_overruns); the lost records themselves are counted
///   from the gap in sequence numbers (kmsg_lost).
/// - A record that does not parse is counted (kmsg_malformed) and kept as
///   raw text at level info.
/// - Lines myelin wrote to /dev/kmsg itself (`myelin[pid]: ...`, facility
///   not kernel) are skipped: they are in the ring already.
class kmsg_tailer {
 public:
  kmsg_tailer(std::shared_ptr<log_hub> hub, kmsg_tailer_options opts);
  ~kmsg_tailer();

  kmsg_tailer(const kmsg_tailer&) = delete;
  kmsg_tailer& operator=(const kmsg_tailer&) = delete;

  /// Opens the device and starts the thread. Errors: log_errc::cannot_open.
  caf::error start();

  /// Stops and joins the thread; idempotent.
  void stop();

  /// What the thread does with the outcome of one read(2): `n` bytes of
  /// `data`, or n < 0 with `err` = errno. Public for tests. Returns false when
  /// reading should stop (a hard error).
  bool on_read(long n, int err, std::string_view data);

 private:
  void run(const stop_signal& stop);

  std::shared_ptr<log_hub> hub_;
  kmsg_tailer_options opts_;
  int fd_ = -1;
  service_thread thread_;
};

}  // namespace myelin::runtime
