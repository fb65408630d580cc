// A one-shot "stop now" for a thread that blocks in poll(2): an eventfd that
// the owner fires and the thread polls next to its own descriptors.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

namespace myelin::runtime {

/// Owns an eventfd (close-on-exec, non-blocking). fire() makes fd() readable
/// for good; fired() tells without blocking. Thread-safe: fire() from any
/// thread, any number of times. If the eventfd cannot be created, fd() is -1
/// (poll(2) ignores it) and fired() still answers from a flag.
class stop_signal {
 public:
  stop_signal();
  ~stop_signal();
  stop_signal(const stop_signal&) = delete;
  stop_signal& operator=(const stop_signal&) = delete;

  void fire();
  bool fired() const;
  int fd() const { return fd_; }

 private:
  int fd_;
  std::atomic<bool> flag_{false};
};

/// A named thread running a loop until stopped: the loop polls its stop
/// signal beside its own descriptors and returns once it fires. The thread
/// carries `name` (thread_name.hpp). Destruction stops it.
class service_thread {
 public:
  service_thread() = default;
  ~service_thread() { stop(); }
  service_thread(const service_thread&) = delete;
  service_thread& operator=(const service_thread&) = delete;

  /// Starts `loop` with a fresh stop signal (after a stop(), again). An
  /// exception escaping it goes to `on_failure` (guarded_thread.hpp).
  void start(const char* name, std::function<void(const stop_signal&)> loop,
             std::function<void(const std::string&)> on_failure = {});

  /// Fires the signal and joins; nothing when not running. Idempotent.
  void stop();

  bool running() const { return thread_.joinable(); }

 private:
  std::unique_ptr<stop_signal> stop_;
  std::thread thread_;
};

}  // namespace myelin::runtime
