// The earliest the clock can be: a device without a battery-backed clock
// boots in 1970, and TLS (certificates "not yet valid"), logs and file times
// go wrong with it. The floor is the newest of the firmware's build time,
// the time myelin last saved on the app partition, and the RTC's, and a
// clock behind it is set forward to it (nerves_time's rule).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/error.hpp>

namespace myelin::runtime {

/// When this myelin was built: the source's last commit time
/// (SOURCE_DATE_EPOCH, else git), seconds since the epoch, UTC.
int64_t build_time();

/// The RTC's time (RTC_RD_TIME on `device`, e.g. /dev/rtc0, read as UTC),
/// or nullopt when there is none or it does not read.
std::optional<int64_t> read_rtc(const std::string& device);

/// The time saved in `file` (seconds, decimal), or nullopt.
std::optional<int64_t> read_saved_time(const std::string& file);

/// Saves `seconds` to `file` durably (write, fsync, rename).
caf::error save_time(const std::string& file, int64_t seconds);

/// The floor and where it came from: "build time", "saved time", "rtc".
struct clock_floor {
  int64_t seconds = 0;
  std::string source;
};

/// How far after the build time a clock, RTC or saved time is still believed:
/// 20 years (nerves_time's bound). Past it, it is taken for garbage.
inline constexpr int64_t plausible_after_build = int64_t{20} * 365 * 24 * 3600;

/// The newest of the three that is plausible (the RTC's counts only after
/// the build time — an RTC that lost its battery reads 1970 or 2000 — and
/// nothing past build + plausible_after_build counts).
clock_floor choose_floor(int64_t build, std::optional<int64_t> saved, std::optional<int64_t> rtc);

/// Where the clock must be set, if anywhere: the floor when `now` is before
/// it, the floor too when `now` is implausibly far past the build time;
/// nullopt when `now` is fine.
std::optional<int64_t> clock_correction(int64_t now, int64_t build, const clock_floor& floor);

/// "2026-12-03 14:20:00 UTC".
std::string format_utc(int64_t seconds);

}  // namespace myelin::runtime
