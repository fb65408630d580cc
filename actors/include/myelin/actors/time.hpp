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
// With time.ntp_servers, asks them (SNTP, on a thread of its own) until one
// answers, then every time.ntp_poll_s; retries from 2 s doubling to 64 s
// while none does, and at once when the net service's connection changes;
// each answer steps (|offset| >= 0.5 s) or slews the clock (time.set_clock),
// and the first latches `synchronized`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using time_status_atom = caf::atom_constant<caf::atom("timestatus")>;
/// Internal: the periodic save, the next NTP round, a round's result.
using time_save_atom = caf::atom_constant<caf::atom("timesave")>;
using time_ntp_atom = caf::atom_constant<caf::atom("timentp")>;
using time_ntp_result_atom = caf::atom_constant<caf::atom("timentpres")>;

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
  /// NTP servers ("host", "host:port"), asked in order; empty: no NTP.
  std::vector<std::string> ntp_servers;
  int64_t ntp_poll_s = 1024;
  int64_t ntp_timeout_ms = 2000;
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
  /// Latched by the first good NTP answer.
  bool synchronized = false;
  /// The last good answer: its server, offset and round trip (µs), stratum,
  /// and when (seconds); -1 / empty before the first.
  std::string ntp_server;
  int64_t ntp_offset_us = 0;
  int64_t ntp_delay_us = 0;
  int64_t ntp_stratum = 0;
  int64_t last_sync = -1;
  /// Why the last round failed (empty after a good one); "" without servers.
  std::string ntp_error;
  std::vector<std::string> ntp_servers;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, time_status& x) {
  return f(caf::meta::type_name("time_status"), x.now, x.floor, x.floor_source, x.build_time,
           x.adjustment, x.set_clock, x.rtc, x.saved_file, x.last_saved, x.synchronized,
           x.ntp_server, x.ntp_offset_us, x.ntp_delay_us, x.ntp_stratum, x.last_sync, x.ntp_error,
           x.ntp_servers);
}

supervisors::start_fn time_start(time_options opts);

}  // namespace myelin::actors
