// The eventfd behind runtime::stop_signal.
#include "myelin/runtime/stop_signal.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>

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

}  // namespace myelin::runtime
