// A one-shot "stop now" for a thread that blocks in poll(2): an eventfd that
// the owner fires and the thread polls next to its own descriptors.
#pragma once

#include <atomic>

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

}  // namespace myelin::runtime
