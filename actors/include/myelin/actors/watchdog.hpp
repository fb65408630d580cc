// The watchdog service: owns the hardware watchdog (/dev/watchdog) and pets
// it only while the core is healthy — the root and core supervisors and
// every running core service answer a liveness round within
// watchdog.probe_timeout_ms. A wedged core stops the petting and the
// hardware resets the board (docs/watchdog.md).
//
// Protocol:
//   (watchdog_status_atom)        -> watchdog_status
//   (watchdog_stop_petting_atom)  -> caf::unit     stops petting for good (a test
//        of the watchdog: the board resets within the timeout); an error when
//        no device is open
// On its own: every watchdog.pet_interval_ms a round, then a pet when the
// round passed; logs an error naming who did not answer (once per change),
// and when the device cannot be opened (it retries while it appears, e.g.
// after uevent.modules loads softdog). Registered as `watchdog`. Supervised
// by the core supervisor (a worker, after uevent). Its end closes the device
// *armed* (never the magic close unless watchdog.disarm_on_stop): an orderly
// stop that hangs is still reset by the hardware.
#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using watchdog_status_atom = caf::atom_constant<caf::atom("wdstatus")>;
using watchdog_stop_petting_atom = caf::atom_constant<caf::atom("wdstoppet")>;
/// Internal: the next round (timer) and the retry of the open.
using watchdog_tick_atom = caf::atom_constant<caf::atom("wdtick")>;

inline constexpr caf::atom_value watchdog_registry_name = caf::atom("watchdog");

/// The [watchdog] section, checked.
struct watchdog_options {
  /// The device; empty: no watchdog (host mode's default).
  std::string device;
  /// The timeout asked of the driver, seconds.
  int timeout_s = 60;
  /// How often a round runs (and the watchdog is petted when it passes).
  int64_t pet_interval_ms = 5000;
  /// How long a round waits for each answer.
  int64_t probe_timeout_ms = 2000;
  /// False: open (arm) the device but never pet it (testing the reset).
  bool pet = true;
  /// Magic close when the service stops (host tests only: a device keeps it
  /// armed through a stop).
  bool disarm_on_stop = false;
};

/// Reads [watchdog]. Errors (config_errc::invalid_value, naming the keys):
/// a pet interval plus probe timeout that is not at most half the timeout —
/// a round that could not pet in time would reset a healthy board.
caf::expected<watchdog_options> watchdog_options_from(const runtime::config& cfg);

/// What the watchdog service reports.
struct watchdog_status {
  /// "off" (no device configured), "opening" (waiting for the device),
  /// "petting", "not petting" (the last round failed), "stopped petting"
  /// (requested or watchdog.pet = false), "error" (cannot open).
  std::string state;
  std::string device;
  /// The driver's identity ("Software Watchdog"), "test double" for a file.
  std::string identity;
  /// The driver's timeout and the time left, seconds; -1 when it does not say.
  int64_t timeout_s = -1;
  int64_t time_left_s = -1;
  int64_t pet_interval_ms = 0;
  /// Why the last boot happened, from the driver's boot status.
  std::string last_reset;
  uint64_t pets = 0;
  uint64_t failed_rounds = 0;
  /// Since the last pet, ms; -1 before the first.
  int64_t since_last_pet_ms = -1;
  /// Who did not answer the last failed round, or the open error.
  std::string problem;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, watchdog_status& x) {
  return f(caf::meta::type_name("watchdog_status"), x.state, x.device, x.identity, x.timeout_s,
           x.time_left_s, x.pet_interval_ms, x.last_reset, x.pets, x.failed_rounds,
           x.since_last_pet_ms, x.problem);
}

/// A start function for the watchdog service.
supervisors::start_fn watchdog_start(watchdog_options opts);

}  // namespace myelin::actors
