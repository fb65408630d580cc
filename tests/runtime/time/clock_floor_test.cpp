// Tests of runtime/src/time/clock_floor.cpp: the floor's choice, the
// correction, the saved file, and the build time itself.
#include "myelin/runtime/time/clock_floor.hpp"

#include <ctime>

#include <gtest/gtest.h>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;

namespace {
constexpr int64_t build = 1764000000;  // 2025-11-24
constexpr int64_t day = 24 * 3600;
}  // namespace

// The build time is compiled in from the source (a commit time), not 0, and
// not after now.
TEST(clock_floor, build_time_is_the_source_time) {
  EXPECT_GT(build_time(), 1700000000);
  EXPECT_LE(build_time(), static_cast<int64_t>(std::time(nullptr)));
}

// The newest plausible source wins; a dead RTC (1970, 2000) and garbage far
// in the future never do.
TEST(clock_floor, newest_plausible_source_wins) {
  EXPECT_EQ(choose_floor(build, std::nullopt, std::nullopt).source, "build time");
  EXPECT_EQ(choose_floor(build, build + day, std::nullopt).seconds, build + day);
  EXPECT_EQ(choose_floor(build, build + day, std::nullopt).source, "saved time");
  EXPECT_EQ(choose_floor(build, build + day, build + 2 * day).source, "rtc");
  EXPECT_EQ(choose_floor(build, build + 3 * day, build + 2 * day).source, "saved time");
  EXPECT_EQ(choose_floor(build, std::nullopt, 946684800).source, "build time");  // 2000
  EXPECT_EQ(choose_floor(build, std::nullopt, 0).source, "build time");
  auto garbage = build + plausible_after_build + day;
  EXPECT_EQ(choose_floor(build, garbage, garbage).source, "build time");
  EXPECT_EQ(choose_floor(build, build - day, std::nullopt).source, "build time");
}

// A clock before the floor, or absurdly far past the build, is corrected;
// a plausible one is left alone.
TEST(clock_floor, correction_only_when_needed) {
  auto f = choose_floor(build, build + day, std::nullopt);
  EXPECT_EQ(clock_correction(31536000, build, f), build + day);  // 1971
  EXPECT_EQ(clock_correction(build + day - 1, build, f), build + day);
  EXPECT_FALSE(clock_correction(build + day, build, f));
  EXPECT_FALSE(clock_correction(build + 400 * day, build, f));
  EXPECT_EQ(clock_correction(build + plausible_after_build + 1, build, f), build + day);
}

// Saved durably and read back; a missing, empty or garbled file is no time.
TEST(clock_floor, saved_time_round_trip_and_garbage) {
  myelin::test::temp_dir dir;
  auto file = (dir / "saved").string();
  EXPECT_FALSE(read_saved_time(file));
  ASSERT_FALSE(save_time(file, build + 5));
  EXPECT_EQ(read_saved_time(file), build + 5);
  for (const char* bad : {"", "garbage\n", "-5\n", "0\n"}) {
    myelin::test::write_file(file, bad);
    EXPECT_FALSE(read_saved_time(file)) << bad;
  }
  EXPECT_EQ(format_utc(0), "1970-01-01 00:00:00 UTC");
}
