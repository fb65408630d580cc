// The app manager: starts each app under its own supervisor, tracks its
// state, and is the triage layer — a failed app never escalates further.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/make_message.hpp>

#include "apps/app_host.hpp"
#include "apps/app_module.hpp"
#include "apps/inproc_app.hpp"
#include "myelin/actors/registry.hpp"
#include "myelin/bootloader/apps.hpp"

namespace myelin::bootloader {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace sup = myelin::supervisors;

/// How long an app may take to answer a command.
constexpr auto call_timeout = 30s;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("apps");
  return l ? l : spdlog::default_logger();
}

struct app_entry {
  apps_options::app cfg;
  caf::actor sup;
  std::string state = "stopped";
  std::string module;
  uint64_t restarts = 0;
  steady::time_point ready_since{};
  std::string last_exit;
  /// How the host's memory is limited (app_host's "memory" event).
  std::string memory_limit;
  /// How the host is confined (app_host's "sandbox" event).
  std::string sandbox;
  /// Starts of the app's supervisor, and when the current one started
  /// (which_children rows of the manager).
  uint32_t sup_starts = 0;
  steady::time_point sup_since{};
  std::string hash;
  /// Brought by an overlay, not listed in the config.
  bool pushed = false;
  /// The start function of the running instance ("start", "start_host").
  std::string start;
  bool stopping = false;
  /// Requests waiting for the app's supervisor to end (stop, restart).
  std::vector<std::function<void()>> on_stopped;
  /// Requests (start, restart) waiting for the current instance to be ready,
  /// or to fail before it is.
  std::vector<caf::typed_response_promise<app_status>> on_ready;
};

struct manager_state {
  apps_options opts;
  std::map<std::string, app_entry> apps;
  std::vector<std::string> order;
  /// Set while the manager itself stops: apps still to stop, last first.
  std::vector<std::string> stop_queue;
  caf::error stop_reason;
  bool shutting_down = false;
};

const char* action_name(failure_action a) {
  switch (a) {
    case failure_action::continue_running:
      return "continue";
    case failure_action::halt:
      return "halt";
    case failure_action::reboot:
      return "reboot";
  }
  return "?";
}

app_status status_of(const app_entry& e) {
  app_status s;
  s.name = e.cfg.name;
  s.state = e.state;
  s.module = e.module.empty() ? e.cfg.module : e.module;
  s.isolation = e.cfg.isolation;
  s.restarts = e.restarts;
  if (e.state == "running") {
    s.uptime_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - e.ready_since)
            .count();
  }
  s.last_exit = e.last_exit;
  s.memory_limit = e.memory_limit;
  s.sandbox = e.sandbox;
  s.hash = e.hash;
  s.origin = e.pushed ? "pushed" : "firmware";
  s.settings = e.cfg.settings;
  s.grants = runtime::describe(e.cfg.grants);
  s.start = e.state == "running" ? e.start : std::string{};
  return s;
}

/// Answers the requests waiting for `e` to be ready.
void answer_ready(app_entry& e) {
  auto waiting = std::move(e.on_ready);
  e.on_ready.clear();
  for (auto& rp : waiting) {
    rp.deliver(status_of(e));
  }
}

/// Answers them with why the instance did not become ready.
void answer_failed(app_entry& e, const std::string& why) {
  auto waiting = std::move(e.on_ready);
  e.on_ready.clear();
  for (auto& rp : waiting) {
    rp.deliver(make_error(app_errc::start_failed, why.empty() ? "it " + e.state : why));
  }
}

/// Tells the services in opts.exit_listeners that `e` stopped without being
/// asked to (an exit, a crash, a failure).
void notify_down(caf::event_based_actor* self, const manager_state& st, const app_entry& e,
                 const std::string& why) {
  for (auto name : st.opts.exit_listeners) {
    if (auto listener = self->system().registry().get<caf::actor>(name)) {
      self->send(listener, actors::app_down_atom::value, e.cfg.name, why);
    }
  }
}

/// Whether the overlay store has `name` as a pushed app.
bool store_has_pushed(const manager_state& st, const std::string& name) {
  return st.opts.overlays && st.opts.overlays->pushed(name);
}

/// Adds an entry for an app that an overlay brought (last in start order),
/// with its settings as of now (start_app reads them again).
app_entry& add_pushed(manager_state& st, const std::string& name) {
  app_entry e;
  e.cfg.name = name;
  if (auto settings = app_settings_of(st.opts, name)) {
    e.cfg = std::move(*settings);
  }
  e.pushed = true;
  st.order.push_back(name);
  return st.apps.emplace(name, std::move(e)).first->second;
}

caf::error start_app(caf::event_based_actor* self, manager_state& st, app_entry& e) {
  if (st.opts.config) {
    // Settings are read at every start: a push may have brought a new app.toml.
    auto fresh = app_settings_of(st.opts, e.cfg.name);
    if (!fresh) {
      e.state = "failed";
      e.last_exit = runtime::describe(fresh.error());
      log()->error("app {}: {}", e.cfg.name, e.last_exit);
      return make_error(app_errc::start_failed, e.last_exit);
    }
    e.cfg = std::move(*fresh);
  }
  if (e.cfg.isolation != "process" && e.cfg.isolation != "inproc") {
    e.state = "failed";
    e.last_exit = "isolation '" + e.cfg.isolation + "' is not available in this version";
    log()->error("app {}: {}", e.cfg.name, e.last_exit);
    return make_error(app_errc::start_failed, e.last_exit);
  }
  app_host_options host;
  host.name = e.cfg.name;
  host.module = e.cfg.module;
  resolve_module(st.opts, e.cfg, host.module, e.hash);
  host.apphost_path = st.opts.apphost_path;
  host.scheduler_threads = st.opts.scheduler_threads;
  host.scheduler_policy = st.opts.scheduler_policy;
  host.heartbeat = st.opts.heartbeat;
  host.heartbeat_timeout = st.opts.heartbeat_timeout;
  host.target = st.opts.target;
  host.memory_limit_mb = e.cfg.memory_limit_mb;
  host.grants = e.cfg.grants;
  host.sandbox = st.opts.sandbox;
  host.identity.data_root = st.opts.data_root;
  host.identity.user = e.cfg.user;
  host.identity.uid_base = st.opts.uid_base;
  host.identity.uid_count = st.opts.uid_count;
  host.manager = caf::actor_cast<caf::actor>(self);
  sup::supervisor_flags flags;
  flags.strategy = sup::strategy::one_for_one;
  flags.intensity = e.cfg.intensity;
  flags.period = e.cfg.period;
  flags.name = e.cfg.name;
  if (e.cfg.backoff_min.count() > 0) {
    sup::backoff_spec b;
    b.min = e.cfg.backoff_min;
    b.max = std::max(e.cfg.backoff_max, e.cfg.backoff_min);
    flags.backoff = b;
  }
  auto child = sup::worker(
      "host", e.cfg.isolation == "inproc" ? inproc_app_start(host) : app_host_start(host));
  child.restart = e.cfg.restart;
  child.shutdown = sup::shutdown_spec::after(host.stop_timeout + 1s);
  auto s = sup::start_supervisor(self->system(), flags, {child});
  if (!s) {
    e.state = "failed";
    e.last_exit = self->system().render(s.error());
    log()->error("app {}: cannot start: {}", e.cfg.name, e.last_exit);
    return s.error();
  }
  e.sup = *s;
  ++e.sup_starts;
  e.sup_since = steady::now();
  e.state = "starting";
  e.stopping = false;
  // A monitor, not a link: CAF 0.17 drops a link when the linked actor gets
  // an exit message from us, so our own stop requests would go unanswered.
  self->monitor(e.sup);
  return {};
}

void stop_app(caf::event_based_actor* self, app_entry& e, std::function<void()> done) {
  if (!e.sup) {
    if (done) {
      done();
    }
    return;
  }
  if (done) {
    e.on_stopped.push_back(std::move(done));
  }
  if (!e.stopping) {
    e.stopping = true;
    self->send_exit(e.sup, caf::exit_reason::user_shutdown);
  }
}

void stop_next(caf::event_based_actor* self, manager_state& st) {
  while (!st.stop_queue.empty()) {
    auto name = st.stop_queue.back();
    st.stop_queue.pop_back();
    auto& e = st.apps.at(name);
    if (e.sup) {
      stop_app(self, e, [self, &st] { stop_next(self, st); });
      return;
    }
  }
  self->quit(st.stop_reason);
}

void run_policy(manager_state& st, const app_entry& e) {
  auto action = e.cfg.on_failure;
  if (st.opts.policy) {
    try {
      action = st.opts.policy(status_of(e), e.cfg.on_failure);
    } catch (const std::exception& ex) {
      log()->error("app {}: the failure policy threw ({}); continuing", e.cfg.name, ex.what());
      action = failure_action::continue_running;
    } catch (...) {
      log()->error("app {}: the failure policy threw; continuing", e.cfg.name);
      action = failure_action::continue_running;
    }
  }
  log()->error("app {} failed ({}); policy: {}", e.cfg.name, e.last_exit, action_name(action));
  if (action != failure_action::continue_running && st.opts.request_power) {
    st.opts.request_power(action == failure_action::halt ? runtime::power_action::halt
                                                         : runtime::power_action::reboot,
                          "", false);
  }
}

caf::behavior app_manager(caf::event_based_actor* self, apps_options opts) {
  auto st = std::make_shared<manager_state>();
  st->opts = std::move(opts);
  for (const auto& a : st->opts.apps) {
    app_entry e;
    e.cfg = a;
    st->order.push_back(a.name);
    st->apps.emplace(a.name, std::move(e));
  }
  if (st->opts.overlays) {
    // Apps that persistent overlays brought: after the configured ones.
    for (const auto& name : st->opts.overlays->apps()) {
      if (st->apps.count(name) == 0) {
        add_pushed(*st, name);
      }
    }
  }
  self->set_down_handler([self, st](caf::down_msg& msg) {
    for (auto& [name, e] : st->apps) {
      if (!e.sup || msg.source != e.sup.address()) {
        continue;
      }
      e.sup = nullptr;
      if (e.stopping) {
        e.state = "stopped";
        log()->info("app {} stopped", name);
        answer_failed(e, "it was stopped before it was ready");
      } else if (e.state != "stopped") {
        // The app's supervisor gave up: the app failed. Never escalate.
        e.state = "failed";
        if (e.last_exit.empty()) {
          e.last_exit = self->system().render(msg.reason);
        }
        answer_failed(e, e.last_exit);
        notify_down(self, *st, e, e.last_exit);
        run_policy(*st, e);
      } else {
        answer_failed(e, e.last_exit);
      }
      e.stopping = false;
      auto waiting = std::move(e.on_stopped);
      for (auto& f : waiting) {
        f();
      }
      return;
    }
  });
  // From the parent (root): stop every app, last started first, then quit.
  self->set_exit_handler([self, st](caf::exit_msg& msg) {
    if (!st->shutting_down) {
      st->shutting_down = true;
      st->stop_reason = msg.reason;
      st->stop_queue = st->order;
      stop_next(self, *st);
    }
  });
  // However the manager ends, no app outlives it.
  self->attach_functor([st] {
    for (auto& [name, e] : st->apps) {
      if (e.sup) {
        caf::anon_send_exit(e.sup, caf::exit_reason::kill);
      }
    }
  });
  for (const auto& name : st->order) {
    auto& e = st->apps.at(name);
    if (e.cfg.enabled) {
      start_app(self, *st, e);
    }
  }
  return {
      [self, st](app_event_atom, const std::string& name, const std::string& event,
                 const std::string& detail) {
        auto i = st->apps.find(name);
        if (i == st->apps.end()) {
          return;
        }
        auto& e = i->second;
        if (event == "start") {
          e.start = detail;
        } else if (event == "ready") {
          e.state = "running";
          e.module = detail;
          e.ready_since = steady::now();
          log()->info("app {} ready ({})", name, detail);
          answer_ready(e);
        } else if (event == "memory") {
          e.memory_limit = detail;
        } else if (event == "sandbox") {
          e.sandbox = detail;
        } else if (event == "exited") {
          e.last_exit = detail;
          if (!e.stopping && !st->shutting_down) {
            ++e.restarts;
            e.state = e.cfg.restart == sup::restart_type::permanent ? "restarting" : "stopped";
            log()->warn("app {} exited: {}", name, detail);
            // The instance a start or restart waits for ended before it was ready.
            answer_failed(e, detail);
            notify_down(self, *st, e, detail);
          }
        }
      },
      [self, st](sup::which_children_atom) {
        std::vector<sup::child_info> rows;
        for (const auto& name : st->order) {
          const auto& e = st->apps.at(name);
          sup::child_info row;
          row.id = name;
          row.handle = e.sup;
          row.status = e.sup ? sup::child_status::running : sup::child_status::undefined;
          row.type = sup::child_type::supervisor;
          row.restarts = e.sup_starts > 0 ? e.sup_starts - 1 : 0;
          if (e.sup) {
            row.uptime_ms =
                std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - e.sup_since)
                    .count();
          }
          rows.push_back(std::move(row));
        }
        return rows;
      },
      [self, st](apps_status_atom) {
        std::vector<app_status> out;
        for (const auto& name : st->order) {
          out.push_back(status_of(st->apps.at(name)));
        }
        return out;
      },
      [self, st](app_start_atom, const std::string& name) -> caf::result<app_status> {
        auto i = st->apps.find(name);
        if (i == st->apps.end()) {
          return make_error(app_errc::unknown_app, "no app '" + name + "'");
        }
        auto& e = i->second;
        if (e.sup && !e.stopping && e.state == "running") {
          return status_of(e);
        }
        if (!e.sup) {
          if (auto err = start_app(self, *st, e)) {
            return err;
          }
        }
        auto rp = self->make_response_promise<app_status>();
        e.on_ready.push_back(rp);
        return rp;
      },
      [self, st](app_stop_atom, const std::string& name) -> caf::result<caf::unit_t> {
        auto i = st->apps.find(name);
        if (i == st->apps.end()) {
          return make_error(app_errc::unknown_app, "no app '" + name + "'");
        }
        auto rp = self->make_response_promise<caf::unit_t>();
        stop_app(self, i->second, [rp]() mutable { rp.deliver(caf::unit); });
        return rp;
      },
      [self, st](app_restart_atom, const std::string& name) -> caf::result<app_status> {
        auto i = st->apps.find(name);
        if (i == st->apps.end()) {
          if (st->shutting_down || !store_has_pushed(*st, name)) {
            return make_error(app_errc::unknown_app, "no app '" + name + "'");
          }
          // A new app, pushed: install it under its own supervisor.
          auto& added = add_pushed(*st, name);
          log()->info("app {}: installed by a push", name);
          if (auto err = start_app(self, *st, added)) {
            return err;
          }
          auto rp = self->make_response_promise<app_status>();
          added.on_ready.push_back(rp);
          return rp;
        }
        auto rp = self->make_response_promise<app_status>();
        if (i->second.pushed && !store_has_pushed(*st, name) && !st->shutting_down) {
          // Withdrawn (push --remove, or rolled back past its first push).
          stop_app(self, i->second, [st, name, rp]() mutable {
            auto removed = status_of(st->apps.at(name));
            removed.state = "removed";
            st->apps.erase(name);
            st->order.erase(std::remove(st->order.begin(), st->order.end(), name), st->order.end());
            log()->info("app {}: removed", name);
            rp.deliver(std::move(removed));
          });
          return rp;
        }
        stop_app(self, i->second, [self, st, name, rp]() mutable {
          auto& e = st->apps.at(name);
          e.last_exit.clear();
          if (auto err = start_app(self, *st, e)) {
            rp.deliver(err);
          } else {
            e.on_ready.push_back(rp);
          }
        });
        return rp;
      },
      [self, st](app_call_atom, const std::string& name, std::string& command,
                 std::vector<std::string>& args) -> caf::result<std::string> {
        auto i = st->apps.find(name);
        if (i == st->apps.end()) {
          return make_error(app_errc::unknown_app, "no app '" + name + "'");
        }
        auto& e = i->second;
        if (e.state != "running" || !e.sup) {
          return make_error(app_errc::not_running,
                            "app " + name + " is " + e.state +
                                (e.last_exit.empty() ? "" : " (" + e.last_exit + ")"));
        }
        auto rp = self->make_response_promise<std::string>();
        // The host is the per-app supervisor's only child.
        self->request(e.sup, 5s, sup::which_children_atom::value)
            .then(
                [self, rp, command, args, name](std::vector<sup::child_info>& rows) mutable {
                  if (rows.empty() || !rows.front().handle) {
                    rp.deliver(make_error(app_errc::not_running, "app " + name + " is restarting"));
                    return;
                  }
                  // A broker that ends drops the requests in its mailbox (CAF
                  // 0.17): a call racing with a crash would wait out its whole
                  // timeout. A helper watches the host and answers at once.
                  self->spawn([host = rows.front().handle, command, args, rp,
                               name](caf::event_based_actor* h) mutable -> caf::behavior {
                    h->monitor(host);
                    auto promise = std::make_shared<caf::typed_response_promise<std::string>>(rp);
                    h->set_down_handler([h, promise, name](caf::down_msg&) {
                      if (promise->pending()) {
                        promise->deliver(make_error(app_errc::not_running,
                                                    "app " + name + " stopped before answering"));
                      }
                      h->quit();
                    });
                    h->request(host, call_timeout, app_call_atom::value, command, args)
                        .then(
                            [h, promise](std::string& reply) {
                              if (promise->pending()) {
                                promise->deliver(std::move(reply));
                              }
                              h->quit();
                            },
                            [h, promise](caf::error& err) {
                              if (promise->pending()) {
                                promise->deliver(std::move(err));
                              }
                              h->quit();
                            });
                    return {[] {}};
                  });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
  };
}

}  // namespace

namespace {

/// `[apps.<name>]` of `cfg` (merged with the app's app.toml or not).
apps_options::app app_from(const runtime::config& cfg, const std::string& name,
                           const std::string& base_dir) {
  namespace fs = std::filesystem;
  auto key = [&](const char* k) { return "apps." + name + "." + k; };
  apps_options::app a;
  a.name = name;
  a.enabled = cfg.get_bool(key("enabled"));
  a.module = cfg.get_string(key("module"));
  if (a.module.empty()) {
    a.module = (fs::path{base_dir} / name / ("lib" + name + ".so")).string();
  }
  a.isolation = cfg.get_string(key("isolation"));
  auto restart = cfg.get_string(key("restart"));
  a.restart = restart == "transient"   ? sup::restart_type::transient
              : restart == "temporary" ? sup::restart_type::temporary
                                       : sup::restart_type::permanent;
  a.intensity = static_cast<int>(cfg.get_int(key("intensity")));
  a.period = std::chrono::milliseconds{cfg.get_int(key("period_ms"))};
  a.backoff_min = std::chrono::milliseconds{cfg.get_int(key("backoff_min_ms"))};
  a.backoff_max = std::chrono::milliseconds{cfg.get_int(key("backoff_max_ms"))};
  a.memory_limit_mb = static_cast<uint64_t>(cfg.get_int(key("memory_limit_mb")));
  auto on_failure = cfg.get_string(key("on_failure"));
  a.on_failure = on_failure == "halt"     ? failure_action::halt
                 : on_failure == "reboot" ? failure_action::reboot
                                          : failure_action::continue_running;
  // app.toml cannot set these (is_app_default_key): they are the device's.
  a.grants.app = name;
  a.grants.kv_read = cfg.get_list(key("kv_read"));
  a.grants.kv_write = cfg.get_list(key("kv_write"));
  a.grants.firmware = cfg.get_string(key("firmware"));
  a.user = cfg.get_string(key("user"));
  return a;
}

/// "config: restart; app.toml: intensity, memory_limit_mb" ("defaults" when
/// every key has its default).
std::string describe_sources(const runtime::settings_sources& sources) {
  std::map<std::string, std::string> by_source;
  for (const auto& [key, from] : sources) {
    if (from != "default") {
      auto& keys = by_source[from];
      keys += (keys.empty() ? "" : ", ") + key;
    }
  }
  if (by_source.empty()) {
    return "defaults";
  }
  std::string out;
  for (const char* from : {"config", "app.toml"}) {
    if (auto i = by_source.find(from); i != by_source.end()) {
      out += (out.empty() ? "" : "; ") + i->first + ": " + i->second;
    }
  }
  return out;
}

}  // namespace

caf::expected<apps_options::app> app_settings_of(const apps_options& opts,
                                                 const std::string& name) {
  namespace fs = std::filesystem;
  std::optional<std::string> file;
  if (opts.overlays) {
    file = opts.overlays->resolve(name, runtime::app_defaults_file);
  } else if (auto p = fs::path{opts.base_dir} / name / runtime::app_defaults_file;
             fs::is_regular_file(p)) {
    file = p.string();
  }
  std::optional<runtime::config> defaults;
  if (file) {
    std::ifstream in{*file, std::ios::binary};
    std::string text;
    text.resize(runtime::max_app_defaults_bytes + 1);
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<size_t>(in.gcount()));
    auto parsed = runtime::parse_app_defaults(text, name, name + "/" + runtime::app_defaults_file);
    if (!parsed) {
      return parsed.error();
    }
    defaults = std::move(*parsed);
  }
  runtime::settings_sources sources;
  auto merged =
      runtime::merge_app_defaults(*opts.config, name, defaults ? &*defaults : nullptr, &sources);
  auto a = app_from(merged, name, opts.base_dir);
  a.settings = describe_sources(sources);
  return a;
}

caf::expected<apps_options> apps_options_from(const runtime::config& cfg,
                                              const std::string& boot_binary_dir) {
  namespace fs = std::filesystem;
  apps_options o;
  o.apphost_path = cfg.get_string("apphost.path");
  if (o.apphost_path.empty()) {
    o.apphost_path = (fs::path{boot_binary_dir} / "myelin-apphost").string();
  }
  std::error_code ec;
  o.base_dir = fs::absolute(cfg.get_string("apphost.base_dir"), ec).string();
  o.scheduler_threads = static_cast<size_t>(cfg.get_int("apphost.scheduler_threads"));
  o.scheduler_policy = cfg.get_string("apphost.scheduler_policy");
  o.heartbeat = std::chrono::milliseconds{cfg.get_int("apphost.heartbeat_ms")};
  o.heartbeat_timeout = std::chrono::milliseconds{cfg.get_int("apphost.heartbeat_timeout_ms")};
  o.target = cfg.get_string("device.target");
  o.sandbox = cfg.get_bool("apphost.sandbox");
  auto data_root = fs::path{cfg.get_string("apphost.data_dir")};
  if (data_root.is_relative()) {
    data_root = fs::path{cfg.get_string("state.dir")} / data_root;
  }
  o.data_root = fs::absolute(data_root, ec).lexically_normal().string();
  o.uid_base = static_cast<uint32_t>(cfg.get_int("apphost.uid_base"));
  o.uid_count = static_cast<uint32_t>(cfg.get_int("apphost.uid_count"));
  if (uint64_t{o.uid_base} + o.uid_count > 0xfffffffeULL) {
    return make_error(runtime::config_errc::invalid_value,
                      "apphost.uid_base + apphost.uid_count must stay below 4294967294");
  }
  o.config = std::make_shared<const runtime::config>(cfg);
  for (const auto& name : cfg.table_names("apps")) {
    runtime::settings_sources sources;
    auto a = app_from(cfg, name, o.base_dir);
    runtime::merge_app_defaults(cfg, name, nullptr, &sources);
    a.settings = describe_sources(sources);
    o.apps.push_back(std::move(a));
  }
  return o;
}

supervisors::start_fn app_manager_start(apps_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto self = sys.spawn(app_manager, opts);
    actors::register_service(sys, apps_registry_name, self);
    return self;
  };
}

}  // namespace myelin::bootloader
