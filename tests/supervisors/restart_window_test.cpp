// Tests of the restart-intensity ring buffer (supervisors/src/restart_window.cpp).
#include "myelin/supervisors/restart_window.hpp"

#include <gtest/gtest.h>

using myelin::supervisors::restart_window;
using namespace std::chrono_literals;

namespace {

restart_window::time_point t0() {
  return restart_window::time_point{} + 1h;
}

}  // namespace

// Intensity 0 allows no restart at all.
TEST(restart_window, intensity_zero_rejects_first) {
  restart_window w{0, 5s};
  EXPECT_FALSE(w.add(t0()));
}

// Intensity n allows n restarts within the period and rejects the n+1-th.
TEST(restart_window, rejects_one_more_than_intensity) {
  restart_window w{3, 5s};
  EXPECT_TRUE(w.add(t0()));
  EXPECT_TRUE(w.add(t0() + 1s));
  EXPECT_TRUE(w.add(t0() + 2s));
  EXPECT_FALSE(w.add(t0() + 3s));
}

// Restarts older than the period no longer count.
TEST(restart_window, old_restarts_expire) {
  restart_window w{2, 5s};
  EXPECT_TRUE(w.add(t0()));
  EXPECT_TRUE(w.add(t0() + 1s));
  EXPECT_TRUE(w.add(t0() + 5001ms));  // the one at t0 has left the window
  EXPECT_TRUE(w.add(t0() + 6001ms));  // and the one at t0+1s
  EXPECT_FALSE(w.add(t0() + 6001ms));
}

// The ring never holds more than intensity + 1 timestamps, however many restarts.
TEST(restart_window, storage_bounded_by_intensity) {
  restart_window w{10, 1ms};
  for (int i = 0; i < 10'000; ++i) {
    EXPECT_TRUE(w.add(t0() + std::chrono::milliseconds{i * 2}));
  }
  EXPECT_LE(w.size(), 11u);
  EXPECT_EQ(w.capacity(), 11u);
}

// A huge intensity does not allocate up front.
TEST(restart_window, huge_intensity_allocates_lazily) {
  restart_window w{2'000'000'000, 5s};
  EXPECT_EQ(w.size(), 0u);
  EXPECT_TRUE(w.add(t0()));
  EXPECT_EQ(w.size(), 1u);
}

// A restart exactly `period` ago is still within the period (OTP keeps R >= Now - Period).
TEST(restart_window, restart_exactly_period_ago_still_counts) {
  restart_window w{1, 5s};
  EXPECT_TRUE(w.add(t0()));
  EXPECT_FALSE(w.add(t0() + 5s));
}

// Once the ring has wrapped, the boundary is inclusive too.
TEST(restart_window, boundary_inclusive_after_wrap) {
  restart_window w{1, 5s};
  EXPECT_TRUE(w.add(t0()));
  EXPECT_TRUE(w.add(t0() + 6s));
  EXPECT_FALSE(w.add(t0() + 11s));
}
