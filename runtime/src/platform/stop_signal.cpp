// The eventfd behind runtime::stop_signal.
#include "myelin/runtime/platform/stop_signal.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/thread_name.hpp"

namespace myelin::runtime {

stop_signal::stop_signal() : fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}

stop_signal::~stop_signal() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

void stop_signal::fire() {
  flag_.store(true, std::memory_order_release);
  if (fd_ >= 0) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd_, &one, sizeof(one));
  }
}

bool stop_signal::fired() const {
  return flag_.load(std::memory_order_acquire);
}

void service_thread::start(const char* name, std::function<void(const stop_signal&)> loop,
                           std::function<void(const std::string&)> on_failure) {
  stop();
  stop_ = std::make_unique<stop_signal>();
  thread_ = guarded_thread(
      name, [loop = std::move(loop), stop = stop_.get()] { loop(*stop); }, std::move(on_failure));
}

void service_thread::stop() {
  if (thread_.joinable()) {
    stop_->fire();
    thread_.join();
  }
  stop_.reset();
}

}  // namespace myelin::runtime
