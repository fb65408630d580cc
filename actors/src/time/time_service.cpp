// The time service (see time.hpp).
#include "myelin/actors/time.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/actors/registry.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/time/clock_floor.hpp"

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
      self->state.save();
      self_timer(self, std::chrono::seconds{opts.save_interval_s}, time_save_atom::value);
      return {
          [self](time_save_atom) {
            self->state.save();
            self_timer(self, std::chrono::seconds{self->state.opts.save_interval_s},
                       time_save_atom::value);
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
