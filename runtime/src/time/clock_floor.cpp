// The clock's floor (see clock_floor.hpp).
#include "myelin/runtime/time/clock_floor.hpp"

#include <fcntl.h>
#include <linux/rtc.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>

#include "myelin/runtime/platform/durable_file.hpp"

#ifndef MYELIN_BUILD_EPOCH
#error "MYELIN_BUILD_EPOCH must be defined (runtime/CMakeLists.txt)"
#endif

namespace myelin::runtime {

int64_t build_time() {
  return MYELIN_BUILD_EPOCH;
}

std::optional<int64_t> read_rtc(const std::string& device) {
  int fd = ::open(device.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  rtc_time rt{};
  int rc = ::ioctl(fd, RTC_RD_TIME, &rt);
  ::close(fd);
  if (rc != 0) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_sec = rt.tm_sec;
  tm.tm_min = rt.tm_min;
  tm.tm_hour = rt.tm_hour;
  tm.tm_mday = rt.tm_mday;
  tm.tm_mon = rt.tm_mon;
  tm.tm_year = rt.tm_year;
  auto t = ::timegm(&tm);
  if (t == static_cast<time_t>(-1)) {
    return std::nullopt;
  }
  return static_cast<int64_t>(t);
}

std::optional<int64_t> read_saved_time(const std::string& file) {
  std::ifstream in(file);
  int64_t t = 0;
  if (!(in >> t) || t <= 0) {
    return std::nullopt;
  }
  return t;
}

caf::error save_time(const std::string& file, int64_t seconds) {
  return write_file_durably(file, std::to_string(seconds) + "\n");
}

clock_floor choose_floor(int64_t build, std::optional<int64_t> saved, std::optional<int64_t> rtc) {
  clock_floor f{build, "build time"};
  auto limit = build + plausible_after_build;
  if (saved && *saved > f.seconds && *saved <= limit) {
    f = {*saved, "saved time"};
  }
  if (rtc && *rtc > build && *rtc > f.seconds && *rtc <= limit) {
    f = {*rtc, "rtc"};
  }
  return f;
}

std::optional<int64_t> clock_correction(int64_t now, int64_t build, const clock_floor& floor) {
  if (now < floor.seconds || now > build + plausible_after_build) {
    return floor.seconds;
  }
  return std::nullopt;
}

std::string format_utc(int64_t seconds) {
  auto t = static_cast<time_t>(seconds);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace myelin::runtime
