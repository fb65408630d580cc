// Helpers shared by myelin's test binaries.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace myelin::test {

/// Directory of the built binaries (build/bin): $MYELIN_BIN_DIR or the build's.
std::filesystem::path bin_dir();

/// Root of the source tree: $MYELIN_SOURCE_DIR or the configured one.
std::filesystem::path source_dir();

/// A fresh directory under $TMPDIR, removed with everything in it on
/// destruction.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Writes `contents` to `file`, replacing it.
void write_file(const std::filesystem::path& file, const std::string& contents);

/// Reads a whole file; empty if it cannot be read.
std::string read_file(const std::filesystem::path& file);

/// Recomputes the checksum of the tar header at `offset` of `tar`, after a
/// test patched one of its fields.
void fix_tar_checksum(std::string& tar, size_t offset);

/// How many bytes of `file` are in the page cache (mincore); 0 if it cannot
/// be read.
size_t resident_bytes(const std::filesystem::path& file);

/// Whether the kernel reports direct-I/O alignment for `file` (statx
/// STATX_DIOALIGN), i.e. whether the firmware slot writer bypasses the page
/// cache there.
bool reports_direct_io(const std::filesystem::path& file);

/// A loop device over the file `backing` (`losetup -f --show`), detached when
/// destroyed, also after a failed test. path() is empty, and why_not() says
/// why, when none can be attached here: not root, no losetup, no free loop
/// device.
class loop_device {
 public:
  explicit loop_device(const std::filesystem::path& backing);
  ~loop_device();
  loop_device(const loop_device&) = delete;
  loop_device& operator=(const loop_device&) = delete;

  const std::string& path() const { return path_; }
  const std::string& why_not() const { return why_not_; }

 private:
  std::string path_;
  std::string why_not_;
};

/// Why a test that needs root cannot run here, or empty if it can.
std::string missing_root();

}  // namespace myelin::test

/// Skips the current test with a visible reason unless running as root.
#define MYELIN_REQUIRE_ROOT()                                        \
  do {                                                               \
    if (auto why_ = ::myelin::test::missing_root(); !why_.empty()) { \
      GTEST_SKIP() << why_;                                          \
    }                                                                \
  } while (false)

namespace myelin::test {

/// A child process started by a test, with stdout and stderr captured together.
/// The destructor kills it (SIGKILL) and reaps it if it still runs, so a failed
/// test never leaves a process behind.
class child_process {
 public:
  /// Starts `argv[0]` with `argv` (no shell). Throws if fork/exec fails.
  explicit child_process(std::vector<std::string> argv);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }

  /// Reads output until a line containing `needle` arrives (returns that line)
  /// or `timeout` passes or the output ends (returns nullopt).
  std::optional<std::string> wait_for_line(const std::string& needle,
                                           std::chrono::milliseconds timeout);

  /// Everything read so far.
  const std::string& output() const { return output_; }

  /// Sends a signal.
  void signal(int sig);

  /// Waits for the process to exit; returns its wait status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

 private:
  bool read_some(std::chrono::milliseconds timeout);

  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool reaped_ = false;
  std::string output_;
  size_t scanned_ = 0;
};

}  // namespace myelin::test

namespace myelin::test {

/// The result of a command run through the shell.
struct command_result {
  int exit_code = -1;
  std::string output;
};

/// Runs `command` with /bin/sh, stdout and stderr captured together.
command_result run(const std::string& command);

/// Quotes a string for /bin/sh.
std::string shell_quote(const std::string& s);

/// A named network namespace, unique per process and instance
/// (`<prefix>-<pid>-<n>`), with lo up; deleted on destruction. error() says
/// why it could not be made (no root, no iproute2, no netns support).
class named_netns {
 public:
  explicit named_netns(const std::string& prefix);
  ~named_netns();
  named_netns(const named_netns&) = delete;
  named_netns& operator=(const named_netns&) = delete;

  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }

  /// Runs `args` (an `ip` command line without `ip`) in the namespace.
  command_result ip(const std::string& args) const;

 private:
  std::string name_;
  std::string error_;
};

}  // namespace myelin::test
