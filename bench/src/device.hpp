// A myelin-boot started by a benchmark, and helpers to measure it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "myelin/runtime/platform/process_memory.hpp"

namespace myelin::bench {

/// A myelin-boot (config/host.toml, free port, temporary state) started with
/// its output on a pipe. Killed and reaped on destruction.
class device {
 public:
  explicit device(std::vector<std::string> extra = {});
  ~device();
  device(const device&) = delete;
  device& operator=(const device&) = delete;

  /// When it was started (just before fork).
  std::chrono::steady_clock::time_point started() const { return started_; }

  /// Reads output until a line containing `needle`; returns when it arrived.
  std::optional<std::chrono::steady_clock::time_point> wait_for(const std::string& needle,
                                                                std::chrono::seconds limit);

  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  /// What it printed that was not read yet (waits up to `limit` for more).
  std::string rest(std::chrono::milliseconds limit);

  /// Reads and drops what it printed so far, without waiting: a device whose
  /// output nobody reads blocks once the pipe is full.
  void drain();

  /// Stops it with SIGTERM and waits.
  void stop();

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int port_ = 0;
  std::string buffer_;
  std::string state_dir_;
  std::chrono::steady_clock::time_point started_;
};

/// Directory of the running myelin-bench (build/bin).
std::string bin_dir();

/// VmRSS of a process in KiB (0 if unknown).
long rss_kb(pid_t pid);

/// Direct children of a process (the runtime's, which the status uses too).
using runtime::children_of;

/// The command line of a process, NULs as spaces.
std::string cmdline_of(pid_t pid);

/// POSTs a JSON body to the device; the status code (0: no answer) and body.
std::pair<int, std::string> post(int port, const std::string& path, const std::string& body);

double median(std::vector<double> v);

}  // namespace myelin::bench
