// A Linux watchdog device (/dev/watchdog, the WDIOC_* ioctls of
// <linux/watchdog.h>): open, set the timeout, pet, read what the driver
// reports, and close armed or disarmed.
//
// Opening a watchdog device arms it: from then on the board resets unless it
// is petted within the timeout. Closing it does not disarm it unless the
// magic character 'V' was written first and the driver allows it (no
// CONFIG_WATCHDOG_NOWAYOUT) — the service never does that on a device, so a
// hung stop is still reset (docs/watchdog.md).
//
// A regular file or a FIFO is accepted as a test double (tests only: no
// driver can be loaded on the machine that runs them, its reset would reset
// that machine): pets are the bytes written, the ioctls report "not
// supported". Not thread-safe: one owner (the watchdog service).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Error codes of category "watchdog"; the context says what and why.
enum class watchdog_errc : uint8_t {
  /// The device cannot be opened (missing, busy: one opener at a time).
  cannot_open = 1,
  /// The file is neither a watchdog nor a test double.
  not_a_watchdog,
  /// A pet or an ioctl failed.
  io_error,
};

std::string to_string(watchdog_errc x);

caf::error make_error(watchdog_errc x, std::string context);

/// What the driver says about itself (WDIOC_GETSUPPORT, GETBOOTSTATUS).
struct watchdog_identity {
  /// "Software Watchdog", "i6300ESB timer", ...; "test double" for a file.
  std::string identity;
  uint32_t firmware_version = 0;
  /// WDIOF_* bits the driver supports.
  uint32_t options = 0;
  /// WDIOF_* bits of why the last boot happened (WDIOF_CARDRESET: the
  /// watchdog reset the board), when the driver reports it.
  std::optional<uint32_t> boot_status;
};

/// The reset reason from a boot status: "watchdog reset", "power-on or
/// software reset", "overheat", ... or "unknown" (no boot status).
std::string describe_boot_status(const std::optional<uint32_t>& status);

class watchdog_device {
 public:
  watchdog_device() = default;
  watchdog_device(watchdog_device&& other) noexcept;
  watchdog_device& operator=(watchdog_device&& other) noexcept;
  watchdog_device(const watchdog_device&) = delete;
  watchdog_device& operator=(const watchdog_device&) = delete;
  /// Closes armed (see close_armed).
  ~watchdog_device();

  /// Opens (and so arms) `path`. Errors: cannot_open, not_a_watchdog.
  static caf::expected<watchdog_device> open(const std::string& path);

  bool is_open() const { return fd_ >= 0; }
  /// Whether this is a file standing in for a device (tests).
  bool is_double() const { return double_; }
  const std::string& path() const { return path_; }
  const watchdog_identity& identity() const { return identity_; }

  /// Sets the timeout (WDIOC_SETTIMEOUT); returns what the driver took (it
  /// may round), or nullopt when it cannot set one (then the driver's own
  /// timeout applies).
  std::optional<int> set_timeout(int seconds);
  /// The current timeout (WDIOC_GETTIMEOUT), if the driver says.
  std::optional<int> timeout() const;
  /// Seconds until the reset (WDIOC_GETTIMELEFT), if the driver says.
  std::optional<int> time_left() const;

  /// Pets the watchdog (WDIOC_KEEPALIVE, or a write where the driver has no
  /// ioctl). Errors: io_error.
  caf::error pet();

  /// Closes without disarming: the board resets after the timeout unless
  /// the device is opened and petted again.
  void close_armed();
  /// Writes the magic 'V' and closes: drivers without NOWAYOUT stop. For
  /// host tests and `watchdog.disarm_on_stop`; never the default.
  void close_disarmed();

 private:
  int fd_ = -1;
  bool double_ = false;
  std::string path_;
  watchdog_identity identity_;
};

}  // namespace myelin::runtime
