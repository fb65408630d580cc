// The watchdog service (see watchdog.hpp).
#include "myelin/actors/watchdog.hpp"

#include <chrono>
#include <optional>
#include <vector>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/actors/console.hpp"
#include "myelin/actors/registry.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/watchdog/watchdog_device.hpp"

namespace myelin::actors {

namespace {

namespace sup = myelin::supervisors;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("watchdog");
  return l ? l : spdlog::default_logger();
}

/// How often a device that cannot be opened is tried again.
constexpr milliseconds open_retry{1000};

struct watchdog_state {
  static inline const char* name = "watchdog";
  watchdog_options opts;
  runtime::watchdog_device device;
  std::string identity;
  std::string last_reset;
  int64_t timeout_s = -1;
  std::string state = "opening";
  std::string problem;
  bool stopped = false;
  uint64_t pets = 0;
  uint64_t failed_rounds = 0;
  std::optional<steady::time_point> last_pet;
  steady::time_point started = steady::now();
  /// The round running now (0: none); replies of older rounds are ignored.
  uint64_t round = 0;
  uint64_t next_round = 1;
  size_t pending = 0;
  std::vector<std::string> silent;

  watchdog_state() = default;
  watchdog_state(const watchdog_state&) = delete;
  watchdog_state& operator=(const watchdog_state&) = delete;
  /// The service's end closes the device armed: if what follows (an orderly
  /// stop, the reboot system call) hangs, the hardware still resets.
  ~watchdog_state() {
    if (!device.is_open()) {
      return;
    }
    if (opts.disarm_on_stop) {
      device.close_disarmed();
      log()->info("watchdog: {} disarmed (watchdog.disarm_on_stop)", opts.device);
    } else {
      device.close_armed();
      log()->info("watchdog: {} closed, still armed ({} s)", opts.device, timeout_s);
    }
  }
};

using self_ptr = caf::stateful_actor<watchdog_state>*;

void pet(self_ptr self) {
  auto& st = self->state;
  if (auto err = st.device.pet()) {
    st.state = "not petting";
    st.problem = runtime::describe(err);
    log()->error("watchdog: cannot pet {}: {}", st.opts.device, st.problem);
    return;
  }
  ++st.pets;
  st.last_pet = steady::now();
  if (st.state != "petting") {
    log()->info("watchdog: petting {} every {} ms", st.opts.device, st.opts.pet_interval_ms);
  }
  st.state = "petting";
  st.problem.clear();
}

void finish_round(self_ptr self) {
  auto& st = self->state;
  st.round = 0;
  if (st.stopped) {
    return;
  }
  if (st.silent.empty()) {
    pet(self);
    return;
  }
  ++st.failed_rounds;
  std::string who;
  for (const auto& s : st.silent) {
    who += (who.empty() ? "" : ", ") + s;
  }
  auto problem = "no answer within " + std::to_string(st.opts.probe_timeout_ms) + " ms from " + who;
  if (problem != st.problem || st.state != "not petting") {
    log()->error("watchdog: not petting {}: {} (the board resets in {} s unless it recovers)",
                 st.opts.device, problem, st.timeout_s);
  }
  st.state = "not petting";
  st.problem = std::move(problem);
}

/// One probe of a round answered (alive) or timed out (silent).
void probe_done(self_ptr self, uint64_t round, const std::string& who, const caf::error& err) {
  auto& st = self->state;
  if (round != st.round) {
    return;
  }
  // Any answer, even "unexpected message" or "receiver down" (a service the
  // supervisor is restarting), shows that the mailbox is being served; only
  // silence until the timeout counts as wedged.
  if (err == caf::sec::request_timeout) {
    st.silent.push_back(who);
  }
  if (--st.pending == 0) {
    finish_round(self);
  }
}

void probe_service(self_ptr self, uint64_t round, const std::string& who, const caf::actor& h) {
  ++self->state.pending;
  self->request(h, milliseconds{self->state.opts.probe_timeout_ms}, caf::sys_atom::value,
                caf::get_atom::value, std::string{"info"})
      .then([self, round, who](caf::ok_atom, const std::string&, const caf::strong_actor_ptr&,
                               const std::string&) { probe_done(self, round, who, {}); },
            [self, round, who](caf::error& err) { probe_done(self, round, who, err); });
}

/// Asks a supervisor for its children, then probes each running one (but
/// `skip`, the service itself), recursing into `descend` by id.
void probe_supervisor(self_ptr self, uint64_t round, const std::string& who,
                      const caf::actor& sup_handle, const std::string& descend) {
  ++self->state.pending;
  self->request(sup_handle, milliseconds{self->state.opts.probe_timeout_ms},
                sup::which_children_atom::value)
      .then(
          [self, round, who, descend](const std::vector<sup::child_info>& rows) {
            if (round != self->state.round) {
              return;
            }
            for (const auto& row : rows) {
              if (row.status != sup::child_status::running || !row.handle ||
                  row.handle == caf::actor_cast<caf::actor>(self)) {
                continue;
              }
              if (row.id == descend) {
                probe_supervisor(self, round, row.id + " supervisor", row.handle, "");
              } else if (descend.empty()) {
                probe_service(self, round, row.id, row.handle);
              }
            }
            probe_done(self, round, who, {});
          },
          [self, round, who](caf::error& err) { probe_done(self, round, who, err); });
}

void start_round(self_ptr self) {
  auto& st = self->state;
  if (st.round != 0 || st.stopped) {
    return;  // the last round is still waiting (it ends by its timeouts)
  }
  auto root = self->system().registry().get<caf::actor>(root_registry_name);
  if (!root) {
    // Booting: the root registers once its children have started. A boot
    // that hangs that long is a wedge too.
    auto booting = std::chrono::duration_cast<std::chrono::seconds>(steady::now() - st.started);
    if (booting.count() < st.timeout_s) {
      pet(self);
    } else {
      st.state = "not petting";
      st.problem = "the core has not come up after " + std::to_string(booting.count()) + " s";
      log()->error("watchdog: {}", st.problem);
    }
    return;
  }
  st.round = st.next_round++;
  st.pending = 0;
  st.silent.clear();
  // The root, the core supervisor and every core service; the apps tree is
  // not the watchdog's business (its failures are the app manager's).
  probe_supervisor(self, st.round, "root supervisor", root, "core");
}

void open_device(self_ptr self) {
  auto& st = self->state;
  auto dev = runtime::watchdog_device::open(st.opts.device);
  if (!dev) {
    auto problem = runtime::describe(dev.error());
    if (problem != st.problem) {
      log()->error("watchdog: {} (trying again every {} ms)", problem, open_retry.count());
    }
    st.state = "error";
    st.problem = std::move(problem);
    return;
  }
  st.device = std::move(*dev);
  st.identity = st.device.identity().identity;
  st.last_reset = runtime::describe_boot_status(st.device.identity().boot_status);
  auto took = st.device.set_timeout(st.opts.timeout_s);
  auto now = st.device.timeout();
  st.timeout_s = now ? *now : (took ? *took : st.opts.timeout_s);
  if (!took && !st.device.is_double()) {
    log()->warn("watchdog: {} does not take a timeout (WDIOC_SETTIMEOUT): its own is {} s",
                st.opts.device, now ? std::to_string(*now) : std::string{"unknown"});
  }
  if (st.timeout_s * 1000 < 2 * (st.opts.pet_interval_ms + 3 * st.opts.probe_timeout_ms)) {
    log()->error(
        "watchdog: the driver's timeout of {} s is too short for watchdog.pet_interval_ms + "
        "3 x watchdog.probe_timeout_ms; the board may reset while healthy",
        st.timeout_s);
  }
  log()->info("watchdog: {} ({}), timeout {} s, last reset: {}", st.opts.device, st.identity,
              st.timeout_s, st.last_reset);
  st.problem.clear();
  if (!st.opts.pet) {
    st.stopped = true;
    st.state = "stopped petting";
    st.problem = "watchdog.pet = false";
    log()->warn("watchdog: watchdog.pet = false: never petted, the board resets in {} s",
                st.timeout_s);
    return;
  }
  pet(self);
}

void tick(self_ptr self) {
  auto& st = self->state;
  if (!st.device.is_open()) {
    open_device(self);
    self_timer(self, st.device.is_open() ? milliseconds{st.opts.pet_interval_ms} : open_retry,
               watchdog_tick_atom::value);
    return;
  }
  start_round(self);
  self_timer(self, milliseconds{st.opts.pet_interval_ms}, watchdog_tick_atom::value);
}

watchdog_status status_of(const watchdog_state& st) {
  watchdog_status s;
  s.state = st.opts.device.empty() ? "off" : st.state;
  s.device = st.opts.device;
  s.identity = st.identity;
  s.timeout_s = st.timeout_s;
  s.pet_interval_ms = st.opts.pet_interval_ms;
  s.last_reset = st.last_reset;
  s.pets = st.pets;
  s.failed_rounds = st.failed_rounds;
  s.problem = st.problem;
  if (st.last_pet) {
    s.since_last_pet_ms =
        std::chrono::duration_cast<milliseconds>(steady::now() - *st.last_pet).count();
  }
  if (auto left = st.device.time_left()) {
    s.time_left_s = *left;
  } else if (st.last_pet && st.timeout_s >= 0) {
    // Estimated from the last pet where the driver does not say.
    s.time_left_s = std::max<int64_t>(0, st.timeout_s - s.since_last_pet_ms / 1000);
  }
  return s;
}

}  // namespace

caf::expected<watchdog_options> watchdog_options_from(const runtime::config& cfg) {
  watchdog_options o;
  o.device = cfg.get_string("watchdog.device");
  o.timeout_s = static_cast<int>(cfg.get_int("watchdog.timeout_s"));
  o.pet_interval_ms = cfg.get_int("watchdog.pet_interval_ms");
  o.probe_timeout_ms = cfg.get_int("watchdog.probe_timeout_ms");
  o.pet = cfg.get_bool("watchdog.pet");
  o.disarm_on_stop = cfg.get_bool("watchdog.disarm_on_stop");
  // A round takes up to three probe timeouts (root, core, services); it has
  // to fit, with its interval, twice into the timeout (nerves_heart #13: a
  // heartbeat slower than the watchdog resets healthy boards).
  auto worst = o.pet_interval_ms + 3 * o.probe_timeout_ms;
  if (worst * 2 > int64_t{o.timeout_s} * 1000) {
    return runtime::make_error(
        runtime::config_errc::invalid_value,
        "watchdog.pet_interval_ms (" + std::to_string(o.pet_interval_ms) +
            ") + 3 x watchdog.probe_timeout_ms (" + std::to_string(o.probe_timeout_ms) +
            ") must be at most half of watchdog.timeout_s (" + std::to_string(o.timeout_s) +
            " s): a round could end after the hardware resets");
  }
  return o;
}

supervisors::start_fn watchdog_start(watchdog_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto self = sys.spawn([opts](self_ptr self) -> caf::behavior {
      self->state.opts = opts;
      if (opts.device.empty()) {
        self->state.state = "off";
      } else {
        tick(self);
      }
      return {
          [self](watchdog_tick_atom) { tick(self); },
          [self](watchdog_status_atom) { return status_of(self->state); },
          [self](watchdog_stop_petting_atom) -> caf::result<caf::unit_t> {
            auto& st = self->state;
            if (!st.device.is_open()) {
              return runtime::make_error(runtime::watchdog_errc::cannot_open,
                                         st.opts.device.empty()
                                             ? std::string{"no watchdog is configured"}
                                             : "the watchdog is not open: " + st.problem);
            }
            st.stopped = true;
            st.state = "stopped petting";
            st.problem = "requested";
            log()->warn("watchdog: petting stopped on request: the board resets within {} s",
                        st.timeout_s);
            return caf::unit;
          },
      };
    });
    register_service(sys, watchdog_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
