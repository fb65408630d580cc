// The restart-intensity ring buffer of a supervisor.
#include "myelin/supervisors/restart_window.hpp"

namespace myelin::supervisors {

restart_window::restart_window(int intensity, duration period)
    : capacity_(static_cast<size_t>(intensity < 0 ? 0 : intensity) + 1), period_(period) {
  // Small windows are allocated at once; large ones grow with use.
  ring_.reserve(capacity_ < 64 ? capacity_ : 64);
}

bool restart_window::add(time_point now) {
  // OTP keeps the restarts R with R >= Now - Period: one exactly `period` ago
  // still counts, so only a strictly older one leaves room for this restart.
  if (ring_.size() < capacity_) {
    ring_.push_back(now);
    if (ring_.size() < capacity_) {
      return true;
    }
    oldest_ = 0;
    return now - ring_[oldest_] > period_;
  }
  ring_[oldest_] = now;
  oldest_ = (oldest_ + 1) % capacity_;
  return now - ring_[oldest_] > period_;
}

void restart_window::clear() {
  ring_.clear();
  oldest_ = 0;
}

}  // namespace myelin::supervisors
