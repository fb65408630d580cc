// The daemon manager: one supervisor per supervised program, their states,
// and the triage — a daemon that fails never escalates (see daemons.hpp).
#include <grp.h>
#include <pwd.h>

#include <cstdlib>
#include <map>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "daemons/daemon_process.hpp"
#include "myelin/actors/registry.hpp"
#include "myelin/bootloader/apps.hpp"
#include "myelin/bootloader/daemons.hpp"

namespace myelin::bootloader {

namespace {

namespace sup = myelin::supervisors;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("daemons");
  return l ? l : spdlog::default_logger();
}

struct daemon_entry {
  daemon_spec spec;
  caf::actor sup;
  std::string state = "stopped";
  int64_t pid = -1;
  uint32_t runs = 0;
  std::string last_exit;
  std::string cgroup;
  std::shared_ptr<std::atomic<uint64_t>> dropped = std::make_shared<std::atomic<uint64_t>>(0);
  steady::time_point since{};
  uint32_t sup_starts = 0;
  bool stopping = false;
  /// Restart requests waiting for the old supervisor's end.
  std::vector<caf::response_promise> restarts;
};

struct manager_state {
  std::vector<std::string> order;
  std::map<std::string, daemon_entry> daemons;
  bool shutting_down = false;
  size_t waiting = 0;
  caf::error stop_reason;
};

std::string joined(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    out += (out.empty() ? "" : " ") + a;
  }
  return out;
}

daemon_status status_of(const daemon_entry& e) {
  daemon_status s;
  s.name = e.spec.name;
  s.state = e.state;
  s.pid = e.pid;
  s.restarts = e.runs > 0 ? e.runs - 1 : 0;
  s.last_exit = e.last_exit;
  s.command = joined(e.spec.command);
  s.cgroup = e.cgroup;
  s.dropped_lines = e.dropped->load();
  if (e.pid > 0) {
    s.uptime_ms = std::chrono::duration_cast<milliseconds>(steady::now() - e.since).count();
  }
  return s;
}

void start_daemon(caf::event_based_actor* self, daemon_entry& e) {
  daemon_run_options run;
  run.spec = e.spec;
  run.uid = e.spec.uid;
  run.gid = e.spec.gid;
  run.manager = caf::actor_cast<caf::actor>(self);
  run.dropped = e.dropped;
  sup::supervisor_flags flags;
  flags.strategy = sup::strategy::one_for_one;
  flags.intensity = e.spec.intensity;
  flags.period = e.spec.period;
  flags.name = "daemon " + e.spec.name;
  if (e.spec.restart_delay.count() > 0) {
    sup::backoff_spec b;
    b.min = e.spec.restart_delay;
    b.max = std::max(e.spec.restart_delay_max, e.spec.restart_delay);
    b.jitter = 0;
    flags.backoff = b;
  }
  auto child = sup::worker("process", daemon_process_start(run));
  child.restart = e.spec.restart;
  child.shutdown = sup::shutdown_spec::after(e.spec.stop_timeout + std::chrono::seconds{1});
  e.stopping = false;
  auto s = sup::start_supervisor(self->system(), flags, {child});
  if (!s) {
    e.state = "failed";
    e.last_exit = runtime::describe(s.error());
    log()->error("daemon {}: cannot start: {}", e.spec.name, e.last_exit);
    return;
  }
  e.sup = *s;
  ++e.sup_starts;
  if (e.state != "running") {
    e.state = "starting";  // until its run reports (the event is on its way)
  }
  self->monitor(e.sup);
}

void stop_all(caf::event_based_actor* self, manager_state& st) {
  for (auto i = st.order.rbegin(); i != st.order.rend(); ++i) {
    auto& e = st.daemons[*i];
    if (e.sup) {
      e.stopping = true;
      ++st.waiting;
      self->send_exit(e.sup, caf::exit_reason::user_shutdown);
    }
  }
  if (st.waiting == 0) {
    self->quit(st.stop_reason);
  }
}

/// Resolves a user or group name or number; -1 for empty.
template <class Id, class Lookup>
caf::expected<Id> resolve_id(const std::string& what, const std::string& name, Lookup lookup) {
  if (name.empty()) {
    return static_cast<Id>(-1);
  }
  char* end = nullptr;
  auto n = std::strtoul(name.c_str(), &end, 10);
  if (end != nullptr && *end == '\0') {
    return static_cast<Id>(n);
  }
  if (auto id = lookup(name)) {
    return *id;
  }
  return runtime::make_error(runtime::config_errc::invalid_value,
                             "no " + what + " '" + name + "' on this system");
}

}  // namespace

caf::expected<daemons_options> daemons_options_from(const runtime::config& cfg) {
  daemons_options out;
  for (const auto& name : cfg.table_names("daemons")) {
    auto key = [&](const char* k) { return "daemons." + name + "." + k; };
    if (!cfg.get_bool(key("enabled"))) {
      continue;
    }
    daemon_spec d;
    d.name = name;
    d.command = cfg.get_list(key("command"));
    if (d.command.empty() || d.command[0].empty()) {
      return runtime::make_error(runtime::config_errc::invalid_value,
                                 key("command") + " must name the program to run");
    }
    d.env = cfg.get_list(key("env"));
    for (const auto& kv : d.env) {
      if (kv.find('=') == std::string::npos || kv.front() == '=') {
        return runtime::make_error(runtime::config_errc::invalid_value,
                                   key("env") + ": '" + kv + "' is not KEY=VALUE");
      }
    }
    d.work_dir = cfg.get_string(key("work_dir"));
    d.user = cfg.get_string(key("user"));
    d.group = cfg.get_string(key("group"));
    d.memory_limit_mb = static_cast<uint64_t>(cfg.get_int(key("memory_limit_mb")));
    d.cpu_weight = static_cast<uint32_t>(cfg.get_int(key("cpu_weight")));
    auto restart = cfg.get_string(key("restart"));
    d.restart = restart == "transient"   ? sup::restart_type::transient
                : restart == "temporary" ? sup::restart_type::temporary
                                         : sup::restart_type::permanent;
    d.intensity = static_cast<int>(cfg.get_int(key("intensity")));
    d.period = milliseconds{cfg.get_int(key("period_ms"))};
    d.restart_delay = milliseconds{cfg.get_int(key("restart_delay_ms"))};
    d.restart_delay_max = milliseconds{cfg.get_int(key("restart_delay_max_ms"))};
    d.stop_timeout = milliseconds{cfg.get_int(key("stop_timeout_ms"))};
    d.log_lines_per_s = static_cast<uint32_t>(cfg.get_int(key("log_lines_per_s")));
    auto uid = resolve_id<uid_t>("user", d.user, [](const std::string& n) -> std::optional<uid_t> {
      auto* pw = ::getpwnam(n.c_str());
      return pw != nullptr ? std::optional<uid_t>{pw->pw_uid} : std::nullopt;
    });
    if (!uid) {
      return runtime::make_error(runtime::config_errc::invalid_value,
                                 key("user") + ": " + runtime::describe(uid.error()));
    }
    auto gid =
        resolve_id<gid_t>("group", d.group, [](const std::string& n) -> std::optional<gid_t> {
          auto* gr = ::getgrnam(n.c_str());
          return gr != nullptr ? std::optional<gid_t>{gr->gr_gid} : std::nullopt;
        });
    if (!gid) {
      return runtime::make_error(runtime::config_errc::invalid_value,
                                 key("group") + ": " + runtime::describe(gid.error()));
    }
    d.uid = *uid;
    d.gid = *gid;
    if (!d.user.empty() && d.group.empty()) {
      // The user's own group: a user without one gets the group of its
      // number, never the root group myelin-boot runs in.
      auto* pw = ::getpwuid(d.uid);
      d.gid = pw != nullptr ? pw->pw_gid : static_cast<gid_t>(d.uid);
    }
    out.daemons.push_back(std::move(d));
  }
  return out;
}

supervisors::start_fn daemons_start(daemons_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto self = sys.spawn([opts](caf::event_based_actor* self) -> caf::behavior {
      auto st = std::make_shared<manager_state>();
      for (const auto& spec : opts.daemons) {
        auto& e = st->daemons[spec.name];
        e.spec = spec;
        st->order.push_back(spec.name);
        start_daemon(self, e);
      }
      self->set_exit_handler([self, st](caf::exit_msg& msg) {
        if (st->shutting_down) {
          return;
        }
        st->shutting_down = true;
        st->stop_reason = msg.reason;
        stop_all(self, *st);
      });
      self->set_down_handler([self, st](caf::down_msg& msg) {
        for (auto& [name, e] : st->daemons) {
          if (!e.sup || e.sup.address() != msg.source) {
            continue;
          }
          e.sup = caf::actor{};
          e.pid = -1;
          if (st->shutting_down) {
            e.state = "stopped";
            if (--st->waiting == 0) {
              self->quit(st->stop_reason);
            }
            return;
          }
          if (e.stopping) {
            e.state = "stopped";
          } else {
            // Its supervisor gave up: the daemon failed. Never escalate.
            e.state = "failed";
            log()->error(
                "daemon {} failed: {} (more than {} restarts in {} ms); it stays down "
                "until `myelin daemons restart {}`",
                name, e.last_exit, e.spec.intensity, e.spec.period.count(), name);
          }
          if (!e.restarts.empty()) {
            auto waiting = std::move(e.restarts);
            e.restarts.clear();
            start_daemon(self, e);
            for (auto& rp : waiting) {
              rp.deliver(status_of(e));
            }
          }
          return;
        }
      });
      return {
          [self, st](daemon_event_atom, const std::string& name, const std::string& event,
                     int64_t pid, const std::string& detail) {
            auto i = st->daemons.find(name);
            if (i == st->daemons.end()) {
              return;
            }
            auto& e = i->second;
            if (event == "running") {
              e.state = "running";
              e.pid = pid;
              e.cgroup = detail;
              e.since = steady::now();
              ++e.runs;
              return;
            }
            e.pid = -1;
            e.last_exit = detail;
            bool ends =
                e.spec.restart == sup::restart_type::temporary ||
                (e.spec.restart == sup::restart_type::transient && detail == "exited with code 0");
            e.state = e.stopping || st->shutting_down || ends ? "stopped" : "restarting";
            if (!e.stopping && !st->shutting_down) {
              log()->log(ends ? spdlog::level::info : spdlog::level::warn, "daemon {}: {}{}", name,
                         detail, ends ? "" : "; restarting");
            }
          },
          [st](daemons_status_atom) {
            std::vector<daemon_status> out;
            for (const auto& name : st->order) {
              out.push_back(status_of(st->daemons[name]));
            }
            return out;
          },
          [self, st](daemon_restart_atom, const std::string& name) -> caf::result<daemon_status> {
            auto i = st->daemons.find(name);
            if (i == st->daemons.end()) {
              return make_error(app_errc::unknown_app, "no daemon '" + name + "'");
            }
            auto& e = i->second;
            if (!e.sup) {
              start_daemon(self, e);
              return status_of(e);
            }
            auto rp = self->make_response_promise();
            e.restarts.push_back(rp);
            if (!e.stopping) {
              e.stopping = true;
              self->send_exit(e.sup, caf::exit_reason::user_shutdown);
            }
            return rp;
          },
          [st](sup::which_children_atom) {
            std::vector<sup::child_info> rows;
            for (const auto& name : st->order) {
              const auto& e = st->daemons[name];
              sup::child_info row;
              row.id = name;
              row.handle = e.sup;
              row.type = sup::child_type::supervisor;
              row.status = e.sup ? sup::child_status::running : sup::child_status::undefined;
              row.restarts = e.sup_starts > 0 ? e.sup_starts - 1 : 0;
              if (e.pid > 0) {
                row.uptime_ms =
                    std::chrono::duration_cast<milliseconds>(steady::now() - e.since).count();
              }
              rows.push_back(std::move(row));
            }
            return rows;
          },
      };
    });
    actors::register_service(sys, daemons_registry_name, self);
    return self;
  };
}

}  // namespace myelin::bootloader
