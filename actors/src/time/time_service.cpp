// The time service (see time.hpp).
#include "myelin/actors/time.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <sys/time.h>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/actors/net.hpp"
#include "myelin/actors/registry.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/time/clock_floor.hpp"
#include "myelin/runtime/time/sntp.hpp"

namespace myelin::actors {

namespace {

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("time");
  return l ? l : spdlog::default_logger();
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

struct time_state {
  static inline const char* name = "time";
  time_options opts;
  time_status status;
  bool round_running = false;
  bool subscribed = false;
  /// The wait before the next round after a failed one (doubling, 2-64 s).
  int64_t retry_s = 2;
  /// Which round a timer belongs to (a connectivity change starts one early).
  uint64_t timer_round = 0;

  /// Saves the clock when it is plausible (never a 1970 or far-future one).
  void save() {
    if (opts.saved_file.empty()) {
      return;
    }
    // Never backwards past the boot's floor (a clock that could not be set
    // forward), never a far-future one.
    auto now = now_s();
    if (now < status.floor || now > status.build_time + runtime::plausible_after_build) {
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path{opts.saved_file}.parent_path(), ec);
    if (auto err = runtime::save_time(opts.saved_file, now)) {
      log()->warn("time: cannot save the time to {}: {}", opts.saved_file, runtime::describe(err));
      return;
    }
    status.last_saved = now;
  }

  ~time_state() { save(); }
};

/// The start's check: the floor, and the clock set forward to it if behind.
time_status check_clock(const time_options& opts) {
  time_status s;
  // The newer of myelin's build and the firmware's (make image writes it):
  // certificates made for the image are not older than the image.
  s.build_time = runtime::build_time();
  if (auto fw = runtime::read_saved_time(opts.build_time_file); fw && *fw > s.build_time) {
    s.build_time = *fw;
  }
  s.set_clock = opts.set_clock;
  s.saved_file = opts.saved_file;
  auto rtc = runtime::read_rtc(opts.rtc_device);
  s.rtc = rtc ? *rtc : -1;
  auto saved = opts.saved_file.empty() ? std::nullopt : runtime::read_saved_time(opts.saved_file);
  auto floor = runtime::choose_floor(s.build_time, saved, rtc);
  s.floor = floor.seconds;
  s.floor_source = floor.source;
  auto now = now_s();
  if (auto target = runtime::clock_correction(now, s.build_time, floor)) {
    auto what = "from " + runtime::format_utc(now) + " to " + runtime::format_utc(*target) + " (" +
                floor.source + ")";
    if (!opts.set_clock) {
      s.adjustment = "would set the clock " + what + " (time.set_clock is off here)";
      log()->info("time: {}", s.adjustment);
    } else {
      timespec ts{static_cast<time_t>(*target), 0};
      if (::clock_settime(CLOCK_REALTIME, &ts) == 0) {
        s.adjustment = "set the clock " + what;
        log()->warn("time: {}", s.adjustment);
      } else {
        s.adjustment = "cannot set the clock " + what + ": " + std::strerror(errno);
        log()->error("time: {}", s.adjustment);
      }
    }
  }
  return s;
}

using self_ptr = caf::stateful_actor<time_state>*;

/// Asks the servers in order on a thread of its own; the first answer (or
/// the last failure) comes back as time_ntp_result_atom.
void start_round(self_ptr self) {
  auto& st = self->state;
  if (st.round_running || st.opts.ntp_servers.empty()) {
    return;
  }
  st.round_running = true;
  auto servers = st.opts.ntp_servers;
  auto timeout = std::chrono::milliseconds{st.opts.ntp_timeout_ms};
  auto me = caf::actor_cast<caf::actor>(self);
  runtime::guarded_thread("time.ntp", [servers, timeout, me] {
    std::string errors;
    for (const auto& server : servers) {
      auto sample = runtime::sntp_query(server, timeout);
      if (sample) {
        caf::anon_send(me, time_ntp_result_atom::value, true, sample->server, sample->offset_us,
                       sample->delay_us, int64_t{sample->stratum}, std::string{});
        return;
      }
      errors += (errors.empty() ? "" : "; ") + runtime::describe(sample.error());
    }
    caf::anon_send(me, time_ntp_result_atom::value, false, std::string{}, int64_t{0}, int64_t{0},
                   int64_t{0}, errors);
  }).detach();
}

void schedule_round(self_ptr self, int64_t seconds) {
  auto round = ++self->state.timer_round;
  self_timer(self, std::chrono::seconds{seconds}, time_ntp_atom::value, round);
}

/// Steps (at least half a second off) or slews the clock by `offset_us`.
std::string correct_clock(const time_options& opts, int64_t offset_us) {
  auto ms = std::to_string(offset_us / 1000) + " ms";
  if (!opts.set_clock) {
    return "offset " + ms + " (time.set_clock is off here)";
  }
  if (offset_us >= 500000 || offset_us <= -500000) {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    int64_t us = int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000 + offset_us;
    timespec to{static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
    if (::clock_settime(CLOCK_REALTIME, &to) != 0) {
      return "cannot step the clock by " + ms + ": " + std::strerror(errno);
    }
    return "stepped the clock by " + ms;
  }
  timeval delta{static_cast<time_t>(offset_us / 1000000),
                static_cast<suseconds_t>(offset_us % 1000000)};
  if (::adjtime(&delta, nullptr) != 0) {
    return "cannot slew the clock by " + ms + ": " + std::strerror(errno);
  }
  return "slewing the clock by " + ms;
}

void ntp_result(self_ptr self, bool ok, const std::string& server, int64_t offset, int64_t delay,
                int64_t stratum, const std::string& error) {
  auto& st = self->state;
  st.round_running = false;
  if (!ok) {
    if (error != st.status.ntp_error) {
      log()->warn("time: no NTP server answered: {} (trying again in {} s)", error, st.retry_s);
    }
    st.status.ntp_error = error;
    schedule_round(self, st.retry_s);
    st.retry_s = std::min<int64_t>(st.retry_s * 2, 64);
    return;
  }
  auto what = correct_clock(st.opts, offset);
  if (!st.status.synchronized) {
    log()->info("time: synchronized with {} (stratum {}, round trip {} ms): {}", server, stratum,
                delay / 1000, what);
  } else {
    log()->debug("time: {} (stratum {}, round trip {} ms): {}", server, stratum, delay / 1000,
                 what);
  }
  st.status.synchronized = true;
  st.status.ntp_server = server;
  st.status.ntp_offset_us = offset;
  st.status.ntp_delay_us = delay;
  st.status.ntp_stratum = stratum;
  st.status.last_sync = now_s();
  st.status.ntp_error.clear();
  st.retry_s = 2;
  schedule_round(self, st.opts.ntp_poll_s);
}

/// Follows the net service's connection (once it runs): a change starts a
/// round at once — a device that got its network late syncs then.
void follow_connection(self_ptr self) {
  auto& st = self->state;
  if (st.subscribed || st.opts.ntp_servers.empty()) {
    return;
  }
  auto net = self->system().registry().get<caf::actor>(net_registry_name);
  if (!net) {
    return;
  }
  st.subscribed = true;
  // A restarted net service has no subscribers: follow the new one then.
  self->monitor(net);
  self->request(net, std::chrono::seconds{5}, net_subscribe_atom::value, std::string{"connection"})
      .then([](const net_properties&) {}, [self](caf::error&) { self->state.subscribed = false; });
}

}  // namespace

time_options time_options_from(const runtime::config& cfg, const std::string& state_dir,
                               bool device_pid1) {
  time_options o;
  auto set = cfg.get_string("time.set_clock");
  o.set_clock = set == "on" || (set == "auto" && device_pid1);
  o.rtc_device = cfg.get_string("time.rtc");
  o.build_time_file = cfg.get_string("time.build_time_file");
  o.saved_file = (std::filesystem::path{state_dir} / "time" / "saved").string();
  o.save_interval_s = cfg.get_int("time.save_interval_s");
  o.ntp_servers = cfg.get_list("time.ntp_servers");
  o.ntp_poll_s = cfg.get_int("time.ntp_poll_s");
  o.ntp_timeout_ms = cfg.get_int("time.ntp_timeout_ms");
  return o;
}

supervisors::start_fn time_start(time_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    // In the starter's context: the services after this one start with the
    // clock corrected.
    auto checked = check_clock(opts);
    auto self = sys.spawn([opts, checked](caf::stateful_actor<time_state>* self) -> caf::behavior {
      self->state.opts = opts;
      self->state.status = checked;
      self->state.status.ntp_servers = opts.ntp_servers;
      self->state.save();
      self_timer(self, std::chrono::seconds{opts.save_interval_s}, time_save_atom::value);
      start_round(self);
      self->set_down_handler([self](caf::down_msg&) {
        // The only actor it monitors is the net service it follows: look
        // for its successor in a second (a round-0 timer starts no round).
        self->state.subscribed = false;
        self_timer(self, std::chrono::seconds{1}, time_ntp_atom::value, uint64_t{0});
      });
      return {
          [self](time_save_atom) {
            self->state.save();
            follow_connection(self);
            self_timer(self, std::chrono::seconds{self->state.opts.save_interval_s},
                       time_save_atom::value);
          },
          [self](time_ntp_atom, uint64_t round) {
            follow_connection(self);
            if (round != 0 && round == self->state.timer_round) {
              start_round(self);
            }
          },
          [self](time_ntp_result_atom, bool ok, const std::string& server, int64_t offset,
                 int64_t delay, int64_t stratum, const std::string& error) {
            follow_connection(self);
            ntp_result(self, ok, server, offset, delay, stratum, error);
          },
          [self](net_change_atom, const runtime::property_change& change) {
            if (change.name == "connection" && !change.new_value.empty() &&
                change.new_value != "disconnected") {
              log()->debug("time: connection is {}: asking the NTP servers", change.new_value);
              ++self->state.timer_round;  // the pending retry is replaced by this round
              start_round(self);
            }
          },
          [self](time_status_atom) {
            auto s = self->state.status;
            s.now = now_s();
            return s;
          },
      };
    });
    register_service(sys, time_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
