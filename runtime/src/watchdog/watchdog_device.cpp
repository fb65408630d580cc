// The Linux watchdog device (see watchdog_device.hpp).
#include "myelin/runtime/watchdog/watchdog_device.hpp"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime {

std::string to_string(watchdog_errc x) {
  switch (x) {
    case watchdog_errc::cannot_open:
      return "cannot_open";
    case watchdog_errc::not_a_watchdog:
      return "not_a_watchdog";
    case watchdog_errc::io_error:
      return "io_error";
  }
  return "?";
}

caf::error make_error(watchdog_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("watchdog"),
                    caf::make_message(std::move(context))};
}

std::string describe_boot_status(const std::optional<uint32_t>& status) {
  if (!status) {
    return "unknown";
  }
  if ((*status & WDIOF_CARDRESET) != 0) {
    return "watchdog reset";
  }
  if ((*status & WDIOF_OVERHEAT) != 0) {
    return "overheat reset";
  }
  if ((*status & WDIOF_POWERUNDER) != 0 || (*status & WDIOF_POWEROVER) != 0) {
    return "power fault reset";
  }
  if ((*status & WDIOF_EXTERN1) != 0 || (*status & WDIOF_EXTERN2) != 0) {
    return "external reset";
  }
  return "power-on or software reset";
}

watchdog_device::watchdog_device(watchdog_device&& other) noexcept
    : fd_{std::exchange(other.fd_, -1)},
      double_{other.double_},
      path_{std::move(other.path_)},
      identity_{std::move(other.identity_)} {}

watchdog_device& watchdog_device::operator=(watchdog_device&& other) noexcept {
  if (this != &other) {
    close_armed();
    fd_ = std::exchange(other.fd_, -1);
    double_ = other.double_;
    path_ = std::move(other.path_);
    identity_ = std::move(other.identity_);
  }
  return *this;
}

watchdog_device::~watchdog_device() {
  close_armed();
}

caf::expected<watchdog_device> watchdog_device::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    auto why = errno == EBUSY ? std::string{"busy: another process holds it open"}
                              : std::string{std::strerror(errno)};
    return make_error(watchdog_errc::cannot_open, path + ": " + why);
  }
  watchdog_device dev;
  dev.fd_ = fd;
  dev.path_ = path;
  struct stat st {};
  ::fstat(fd, &st);
  if (S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode)) {
    dev.double_ = true;
    dev.identity_.identity = "test double";
    return dev;
  }
  watchdog_info info{};
  if (!S_ISCHR(st.st_mode) || ::ioctl(fd, WDIOC_GETSUPPORT, &info) != 0) {
    // Not a watchdog: close it without writing anything to it.
    ::close(std::exchange(dev.fd_, -1));
    return make_error(watchdog_errc::not_a_watchdog,
                      path + " is not a watchdog device (WDIOC_GETSUPPORT failed)");
  }
  auto end = std::find(std::begin(info.identity), std::end(info.identity), '\0');
  dev.identity_.identity.assign(reinterpret_cast<const char*>(info.identity),
                                reinterpret_cast<const char*>(end));
  dev.identity_.firmware_version = info.firmware_version;
  dev.identity_.options = info.options;
  int status = 0;
  if (::ioctl(fd, WDIOC_GETBOOTSTATUS, &status) == 0) {
    dev.identity_.boot_status = static_cast<uint32_t>(status);
  }
  return dev;
}

std::optional<int> watchdog_device::set_timeout(int seconds) {
  if (fd_ < 0 || double_ || (identity_.options & WDIOF_SETTIMEOUT) == 0) {
    return std::nullopt;
  }
  int t = seconds;
  if (::ioctl(fd_, WDIOC_SETTIMEOUT, &t) != 0) {
    return std::nullopt;
  }
  return t;
}

std::optional<int> watchdog_device::timeout() const {
  int t = 0;
  if (fd_ < 0 || double_ || ::ioctl(fd_, WDIOC_GETTIMEOUT, &t) != 0) {
    return std::nullopt;
  }
  return t;
}

std::optional<int> watchdog_device::time_left() const {
  int t = 0;
  if (fd_ < 0 || double_ || ::ioctl(fd_, WDIOC_GETTIMELEFT, &t) != 0) {
    return std::nullopt;
  }
  return t;
}

caf::error watchdog_device::pet() {
  if (fd_ < 0) {
    return make_error(watchdog_errc::io_error, path_ + ": not open");
  }
  if (!double_ && (identity_.options & WDIOF_KEEPALIVEPING) != 0) {
    int dummy = 0;
    if (::ioctl(fd_, WDIOC_KEEPALIVE, &dummy) == 0) {
      return {};
    }
  }
  // Any write is a keepalive for every driver (and what a double records).
  if (::write(fd_, "k", 1) != 1) {
    return make_error(watchdog_errc::io_error, path_ + ": " + std::strerror(errno));
  }
  return {};
}

void watchdog_device::close_armed() {
  if (fd_ >= 0) {
    ::close(std::exchange(fd_, -1));
  }
}

void watchdog_device::close_disarmed() {
  if (fd_ >= 0) {
    [[maybe_unused]] auto n = ::write(fd_, "V", 1);
    ::close(std::exchange(fd_, -1));
  }
}

}  // namespace myelin::runtime
