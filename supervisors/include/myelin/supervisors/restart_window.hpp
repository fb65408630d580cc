// The restart-intensity check of a supervisor: a fixed ring of timestamps.
#pragma once

#include <chrono>
#include <cstddef>
#include <vector>

namespace myelin::supervisors {

/// Remembers the times of the last `intensity + 1` restarts and says whether
/// a new restart exceeds "at most `intensity` restarts within `period`".
///
/// OTP keeps every restart of the window in a list, so its check costs more
/// the more restarts the window holds. Here the ring never holds more than
/// `intensity + 1` entries and `add` is O(1): the restarts within the period
/// exceed `intensity` exactly when the oldest of the last `intensity + 1`
/// restarts is itself within the period. "Within" includes the boundary, as in
/// OTP (it keeps R >= Now - Period): a restart exactly `period` ago still
/// counts. Storage grows lazily, up to that
/// bound, so a huge intensity costs nothing until restarts happen.
class restart_window {
 public:
  using clock_type = std::chrono::steady_clock;
  using time_point = clock_type::time_point;
  using duration = clock_type::duration;

  // -- constructors -----------------------------------------------------------

  /// `intensity` must be >= 0 and `period` > 0 (check_childspecs ensures it).
  restart_window(int intensity, duration period);

  // -- modifiers --------------------------------------------------------------

  /// Records a restart at `now`. Returns false when this restart makes the
  /// number of restarts within the period exceed the intensity.
  bool add(time_point now);

  /// Forgets all restarts.
  void clear();

  // -- observers --------------------------------------------------------------

  /// Number of timestamps held (at most intensity + 1).
  size_t size() const noexcept { return ring_.size(); }

  /// Upper bound of size().
  size_t capacity() const noexcept { return capacity_; }

 private:
  size_t capacity_;
  duration period_;
  std::vector<time_point> ring_;
  /// Index of the oldest entry once the ring is full.
  size_t oldest_ = 0;
};

}  // namespace myelin::supervisors
