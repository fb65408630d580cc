// The console's overlay routes: app hashes, push (verify, apply, restart the
// changed apps, roll back if they do not come up), probation, rollback.
#include "console_overlays.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/apps.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/app_output.hpp"
#include "myelin/runtime/config.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

using probation_tick_atom = caf::atom_constant<caf::atom("probtick")>;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("console");
  return l ? l : spdlog::default_logger();
}

std::string hash_or_empty(const caf::expected<std::string>& hash) {
  return hash ? *hash : std::string{};
}

struct service_state {
  overlay_service_options opts;
  /// One push, rollback or clear at a time.
  std::mutex push_mtx;
  /// Bumped by every push, rollback and clear: a probation of an older one ends.
  std::atomic<uint64_t> generation{0};
  std::mutex info_mtx;
  /// The last rollback (reason, apps, output), for GET /v1/overlays.
  json last_rollback;
};

/// The apps' states (empty when no app manager runs). Blocking: HTTP threads only.
std::vector<app_status> statuses(caf::actor_system& sys) {
  auto apps = sys.registry().get<caf::actor>(apps_registry_name);
  if (!apps) {
    return {};
  }
  caf::scoped_actor self{sys};
  std::vector<app_status> out;
  self->request(apps, 5s, apps_status_atom::value)
      .receive([&](std::vector<app_status>& rows) { out = std::move(rows); }, [&](caf::error&) {});
  return out;
}

const app_status* find_app(const std::vector<app_status>& rows, const std::string& name) {
  for (const auto& r : rows) {
    if (r.name == name) {
      return &r;
    }
  }
  return nullptr;
}

caf::error restart(caf::actor_system& sys, const std::string& name) {
  auto apps = sys.registry().get<caf::actor>(apps_registry_name);
  if (!apps) {
    return {};
  }
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(apps, 30s, app_restart_atom::value, name)
      .receive([] {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Restarts `apps` (those not stopped on purpose) and waits until each runs
/// the module the store resolves now, crashes, fails or times out.
/// Returns app -> why it did not come up (absent: it did).
std::map<std::string, std::string> restart_and_wait(caf::actor_system& sys, service_state& st,
                                                    const std::set<std::string>& apps) {
  std::map<std::string, std::string> failures;
  auto rows = statuses(sys);
  std::map<std::string, uint64_t> baseline;
  for (const auto& name : apps) {
    const auto* row = find_app(rows, name);
    if (row != nullptr && row->state == "stopped") {
      continue;
    }
    // An app the manager does not have yet is new: the restart installs it
    // (and one that no longer exists is removed by it).
    baseline[name] = row != nullptr ? row->restarts : 0;
    if (auto err = restart(sys, name)) {
      failures[name] = runtime::describe(err);
      baseline.erase(name);
    }
  }
  auto deadline = steady::now() + st.opts.start_timeout;
  while (!baseline.empty()) {
    rows = statuses(sys);
    for (auto i = baseline.begin(); i != baseline.end();) {
      const auto* row = find_app(rows, i->first);
      if (row == nullptr) {
        // Withdrawn (push --remove, or rolled back past its first push).
        i = baseline.erase(i);
        continue;
      }
      auto expected = st.opts.store->module_path(i->first);
      if (row->state == "failed" || row->restarts > i->second) {
        failures[i->first] = row->last_exit.empty() ? "it " + row->state : row->last_exit;
        i = baseline.erase(i);
      } else if (row->state == "running" && expected && row->module == *expected) {
        i = baseline.erase(i);
      } else if (steady::now() > deadline) {
        failures[i->first] = "it did not come up within " +
                             std::to_string(st.opts.start_timeout.count()) + " ms (state " +
                             row->state + ")";
        i = baseline.erase(i);
      } else {
        ++i;
      }
    }
    if (!baseline.empty()) {
      std::this_thread::sleep_for(2ms);
    }
  }
  return failures;
}

json app_rows(caf::actor_system& sys, service_state& st, const std::set<std::string>& apps) {
  auto rows = statuses(sys);
  json out = json::object();
  for (const auto& name : apps) {
    json row = {{"hash", hash_or_empty(st.opts.store->app_hash(name))}};
    if (const auto* r = find_app(rows, name)) {
      row["state"] = r->state;
      row["module"] = r->module;
    }
    out[name] = std::move(row);
  }
  return out;
}

json stack_json(const std::vector<runtime::stack_entry>& entries) {
  json out = json::array();
  for (const auto& e : entries) {
    out.push_back({{"name", e.name}, {"persistent", e.persistent}});
  }
  return out;
}

int http_status_of(const caf::error& err) {
  if (err.category() != caf::atom("overlay")) {
    return 500;
  }
  switch (static_cast<runtime::overlay_errc>(err.code())) {
    case runtime::overlay_errc::bad_signature:
      return 403;
    case runtime::overlay_errc::too_large:
      return 413;
    case runtime::overlay_errc::unknown_app:
      return 404;
    case runtime::overlay_errc::io_error:
      return 507;
    case runtime::overlay_errc::no_last_good:
      return 409;
    case runtime::overlay_errc::bad_settings:
      return 400;
    default:
      return 400;
  }
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, const caf::error& err) {
  reply(res, http_status_of(err), {{"error", runtime::describe(err)}});
}

/// The last lines an app wrote to stderr, for the host.
json output_of(const std::string& app) {
  json lines = json::array();
  for (auto& l : runtime::app_output::last_lines(app)) {
    lines.push_back(std::move(l));
  }
  return lines;
}

/// Rolls the stack back after `failures` and restarts what changed; the JSON
/// the host gets.
json roll_back(caf::actor_system& sys, service_state& st,
               const std::map<std::string, std::string>& failures, const std::string& when) {
  std::string why;
  json logs = json::object();
  for (const auto& [app, reason] : failures) {
    why += (why.empty() ? "" : "; ") + std::string{"app "} + app + " " + when + ": " + reason;
    logs[app] = output_of(app);
  }
  json out = {{"ok", false}, {"rolled_back", false}, {"failed", failures}, {"log", logs}};
  auto change = st.opts.store->rollback();
  if (!change) {
    out["error"] = why + "; rolling back failed: " + runtime::describe(change.error());
    log()->error("overlays: {}", out["error"].get<std::string>());
    return out;
  }
  std::set<std::string> apps;
  for (const auto& [app, hashes] : change->changed_apps) {
    apps.insert(app);
  }
  auto again = restart_and_wait(sys, st, apps);
  out["rolled_back"] = true;
  out["error"] = why + "; the overlay stack was rolled back to last-good";
  if (!again.empty()) {
    out["error"] =
        out["error"].get<std::string>() + " (but the old version did not come up either)";
  }
  out["apps"] = app_rows(sys, st, apps);
  log()->error("overlays: {}", out["error"].get<std::string>());
  std::lock_guard<std::mutex> guard{st.info_mtx};
  st.last_rollback = out;
  return out;
}

/// Watches the pushed apps for the probation window: a crash or failure rolls
/// the stack back; surviving it makes the stack last-good.
void start_probation(caf::actor_system& sys, std::shared_ptr<service_state> st, uint64_t gen,
                     std::map<std::string, uint64_t> baseline) {
  auto deadline = steady::now() + st->opts.probation;
  sys.spawn([st, gen, baseline, deadline](caf::event_based_actor* self) -> caf::behavior {
    self->send(self, probation_tick_atom::value);
    return {[self, st, gen, baseline, deadline](probation_tick_atom) {
      if (st->generation != gen) {
        return self->quit();
      }
      auto apps = self->system().registry().get<caf::actor>(apps_registry_name);
      auto finish = [self, st, gen](std::map<std::string, std::string> failures) {
        std::unique_lock<std::mutex> lock{st->push_mtx, std::try_to_lock};
        if (!lock.owns_lock() || st->generation != gen) {
          // A newer push or rollback is under way: it decides.
          return self->quit();
        }
        if (failures.empty()) {
          if (auto err = st->opts.store->mark_good()) {
            log()->error("overlays: cannot record last-good: {}", runtime::describe(err));
          }
          return self->quit();
        }
        ++st->generation;
        std::string why;
        json logs = json::object();
        for (const auto& [app, reason] : failures) {
          why += (why.empty() ? "" : "; ") + app + " failed on probation: " + reason;
          logs[app] = output_of(app);
        }
        auto change = st->opts.store->rollback();
        json info = {{"ok", false}, {"failed", failures}, {"log", logs}};
        if (!change) {
          info["rolled_back"] = false;
          info["error"] = why + "; rolling back failed: " + runtime::describe(change.error());
        } else {
          info["rolled_back"] = true;
          info["error"] = why + "; the overlay stack was rolled back to last-good";
          auto mgr = self->system().registry().get<caf::actor>(apps_registry_name);
          for (const auto& [app, hashes] : change->changed_apps) {
            if (mgr) {
              caf::anon_send(mgr, app_restart_atom::value, app);
            }
          }
        }
        log()->error("overlays: {}", info["error"].get<std::string>());
        {
          std::lock_guard<std::mutex> guard{st->info_mtx};
          st->last_rollback = info;
        }
        self->quit();
      };
      if (!apps) {
        // At boot the app manager starts after the console.
        if (steady::now() >= deadline) {
          return finish({});
        }
        return self_timer(self, 100ms, probation_tick_atom::value);
      }
      self->request(apps, 5s, apps_status_atom::value)
          .then(
              [self, baseline, deadline, finish](std::vector<app_status>& rows) {
                std::map<std::string, std::string> failures;
                for (const auto& [name, restarts] : baseline) {
                  const auto* row = find_app(rows, name);
                  if (row != nullptr && (row->state == "failed" || row->restarts > restarts)) {
                    failures[name] = row->last_exit.empty() ? row->state : row->last_exit;
                  }
                }
                if (!failures.empty() || steady::now() >= deadline) {
                  return finish(std::move(failures));
                }
                self_timer(self, 100ms, probation_tick_atom::value);
              },
              [self](caf::error&) { self_timer(self, 100ms, probation_tick_atom::value); });
    }};
  });
}

}  // namespace

/// A stack that was not yet proven good when myelin-boot stopped (killed or
/// rebooted during probation) goes through probation again: the apps that
/// run files of overlays newer than last-good.
void start_boot_probation(caf::actor_system& sys, std::shared_ptr<service_state> st) {
  const auto& store = *st->opts.store;
  std::set<std::string> good;
  for (const auto& e : store.last_good()) {
    good.insert(e.name);
  }
  std::map<std::string, uint64_t> baseline;
  for (const auto& app : store.apps()) {
    auto tree = store.tree(app);
    if (!tree) {
      continue;
    }
    for (const auto& [path, f] : *tree) {
      if (!f.overlay.empty() && good.count(f.overlay) == 0) {
        baseline[app] = 0;
        break;
      }
    }
  }
  if (baseline.empty()) {
    return;
  }
  log()->info("overlays: the stack is on probation for {} s", st->opts.probation.count());
  start_probation(sys, st, st->generation, std::move(baseline));
}

void install_overlay_routes(caf::actor_system& sys, httplib::Server& srv,
                            const overlay_service_options& opts) {
  auto st = std::make_shared<service_state>();
  st->opts = opts;
  if (opts.store) {
    start_boot_probation(sys, st);
  }
  auto unavailable = [](httplib::Response& res) {
    reply(res, 503, {{"error", "overlays are not available on this device"}});
  };
  srv.Get("/v1/overlays", [st, unavailable](const httplib::Request&, httplib::Response& res) {
    if (!st->opts.store) {
      return unavailable(res);
    }
    const auto& store = *st->opts.store;
    json apps = json::object();
    json pushed = json::array();
    for (const auto& name : store.apps()) {
      apps[name] = hash_or_empty(store.app_hash(name));
      if (store.options().known_apps.count(name) == 0) {
        pushed.push_back(name);
      }
    }
    json body = {{"stack", stack_json(store.stack())},
                 {"last_good", stack_json(store.last_good())},
                 {"apps", apps},
                 {"pushed_apps", pushed},
                 {"allow_new_apps", store.options().allow_new_apps},
                 {"max_bytes", store.options().max_bytes}};
    {
      std::lock_guard<std::mutex> guard{st->info_mtx};
      body["last_rollback"] = st->last_rollback;
    }
    reply(res, 200, body);
  });
  srv.Get(R"(/v1/overlays/apps/([^/]+))", [st, unavailable](const httplib::Request& req,
                                                            httplib::Response& res) {
    if (!st->opts.store) {
      return unavailable(res);
    }
    std::string app = req.matches[1];
    const auto& store = *st->opts.store;
    if (store.apps().count(app) == 0) {
      return reply(res, 404, {{"error", "the device has no app '" + app + "'"}});
    }
    auto hashes = store.file_hashes(app);
    if (!hashes) {
      return reply_error(res, hashes.error());
    }
    reply(res, 200, {{"app", app}, {"hash", runtime::app_hash_of(*hashes)}, {"files", *hashes}});
  });
  srv.Post("/v1/overlays", [&sys, st, unavailable](const httplib::Request&, httplib::Response& res,
                                                   const httplib::ContentReader& content) {
    if (!st->opts.store) {
      return unavailable(res);
    }
    auto limit = st->opts.store->options().max_bytes;
    std::string body;
    bool too_big = false;
    uint64_t discarded = 0;
    bool complete = content([&](const char* data, size_t size) {
      if (too_big || body.size() + size > limit) {
        // Read on (and drop) up to another max(max_bytes, 16 MiB), so that
        // the client gets the 413 rather than a broken pipe; beyond, hang up.
        too_big = true;
        body.clear();
        discarded += size;
        return discarded <= std::max<uint64_t>(limit, 16u << 20);
      }
      body.append(data, size);
      return true;
    });
    if (too_big) {
      return reply(res, 413,
                   {{"error", "the overlay is larger than overlays.max_bytes (" +
                                  std::to_string(limit) + " bytes); nothing was changed"}});
    }
    if (!complete) {
      return reply(res, 400, {{"error", "the overlay did not arrive completely"}});
    }
    std::lock_guard<std::mutex> guard{st->push_mtx};
    auto gen = ++st->generation;
    auto change = st->opts.store->apply(body);
    if (!change) {
      return reply_error(res, change.error());
    }
    std::set<std::string> apps;
    for (const auto& [app, hashes] : change->changed_apps) {
      apps.insert(app);
    }
    auto failures = restart_and_wait(sys, *st, apps);
    if (!failures.empty()) {
      auto out = roll_back(sys, *st, failures, "did not start");
      out["overlay"] = change->overlay;
      return reply(res, 422, out);
    }
    json out = {{"ok", true}, {"overlay", change->overlay}, {"apps", app_rows(sys, *st, apps)}};
    if (apps.empty() || st->opts.probation.count() == 0) {
      st->opts.store->mark_good();
    } else {
      std::map<std::string, uint64_t> baseline;
      for (const auto& row : statuses(sys)) {
        if (apps.count(row.name) != 0) {
          baseline[row.name] = row.restarts;
        }
      }
      start_probation(sys, st, gen, std::move(baseline));
      out["probation_s"] = st->opts.probation.count();
    }
    reply(res, 200, out);
  });
  auto reset = [&sys, st, unavailable](bool clear) {
    return [&sys, st, unavailable, clear](const httplib::Request&, httplib::Response& res) {
      if (!st->opts.store) {
        return unavailable(res);
      }
      std::lock_guard<std::mutex> guard{st->push_mtx};
      ++st->generation;
      auto& store = *st->opts.store;
      std::map<std::string, std::string> before;
      for (const auto& app : store.apps()) {
        before[app] = hash_or_empty(store.app_hash(app));
      }
      caf::error err;
      if (clear) {
        err = store.clear();
      } else if (auto change = store.rollback(); !change) {
        err = change.error();
      }
      if (err) {
        return reply_error(res, err);
      }
      std::set<std::string> apps;
      auto now = store.apps();
      for (const auto& [app, hash] : before) {
        if (now.count(app) == 0 || hash_or_empty(store.app_hash(app)) != hash) {
          apps.insert(app);
        }
      }
      auto failures = restart_and_wait(sys, *st, apps);
      json out = {{"ok", failures.empty()}, {"apps", app_rows(sys, *st, apps)}};
      if (!failures.empty()) {
        out["failed"] = failures;
      }
      reply(res, 200, out);
    };
  };
  srv.Post("/v1/overlays/rollback", reset(false));
  srv.Post("/v1/overlays/clear", reset(true));
}

}  // namespace myelin::actors
