// The time service: keeps the clock at or after its floor — the newest of
// the firmware's build time, the time saved on the app partition and the
// RTC's (runtime/time/clock_floor.hpp) — and saves the time periodically and
// at stop, so that a device without a battery-backed clock does not boot
// into 1970 (TLS certificates would be "not yet valid").
//
// Protocol:
//   (time_status_atom) -> time_status
// On its own: at start (before the later core services start) sets a clock
// behind its floor forward (time.set_clock), logging from what to what;
// every time.save_interval_s and at its end saves the time to
// <state.dir>/time/saved when the clock is plausible. Registered as `time`.
// Supervised by the core supervisor (a worker, right after log).
// Synchronising with NTP is not done yet: `synchronized` stays false.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using time_status_atom = caf::atom_constant<caf::atom("timestatus")>;
/// Internal: the periodic save.
using time_save_atom = caf::atom_constant<caf::atom("timesave")>;

inline constexpr caf::atom_value time_registry_name = caf::atom("time");

struct time_options {
  /// Whether the service may set the system clock (time.set_clock: "auto"
  /// is on only for a device's PID 1 — never a laptop's clock).
  bool set_clock = false;
  std::string rtc_device = "/dev/rtc0";
  /// The firmware's build time (seconds), written by `make image`; the
  /// floor's build time is the newer of it and myelin's own.
  std::string build_time_file = "/etc/myelin/build-time";
  /// Where the time is saved; empty: not saved.
  std::string saved_file;
  int64_t save_interval_s = 600;
};

/// [time] of `cfg`; the saved file is <state_dir>/time/saved.
time_options time_options_from(const runtime::config& cfg, const std::string& state_dir,
                               bool device_pid1);

struct time_status {
  /// The clock now, seconds since the epoch (UTC).
  int64_t now = 0;
  int64_t floor = 0;
  /// "build time", "saved time" or "rtc".
  std::string floor_source;
  int64_t build_time = 0;
  /// What the start did: "" (nothing), "set forward from A to B", "would set
  /// ... (time.set_clock is off)", "cannot set ...: why".
  std::string adjustment;
  bool set_clock = false;
  /// The RTC's time at start, -1 when there is none.
  int64_t rtc = -1;
  std::string saved_file;
  /// When the time was last saved, -1 never.
  int64_t last_saved = -1;
  bool synchronized = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, time_status& x) {
  return f(caf::meta::type_name("time_status"), x.now, x.floor, x.floor_source, x.build_time,
           x.adjustment, x.set_clock, x.rtc, x.saved_file, x.last_saved, x.synchronized);
}

supervisors::start_fn time_start(time_options opts);

}  // namespace myelin::actors
