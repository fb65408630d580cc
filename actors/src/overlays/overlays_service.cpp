// The overlays service: the one owner of the overlay store. Push, restart of
// the changed apps (waiting for app_restart's replies, never polling),
// rollback, probation, clear, and following the firmware: the switch's mark,
// overlays set aside, restored or dropped (decision 0077).
#include <algorithm>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <set>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "myelin/actors/apps.hpp"
#include "myelin/actors/kv_snapshot.hpp"
#include "myelin/actors/overlays.hpp"
#include "myelin/actors/registry.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/firmware/firmware_status.hpp"
#include "myelin/runtime/log/app_output.hpp"
#include "myelin/runtime/platform/durable_file.hpp"

namespace myelin::actors {

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

using probation_end_atom = caf::atom_constant<caf::atom("probend")>;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("overlays");
  return l ? l : spdlog::default_logger();
}

std::string hash_or_empty(const caf::expected<std::string>& hash) {
  return hash ? *hash : std::string{};
}

/// App -> why it did not come up.
using failures = std::map<std::string, std::string>;

struct service_state {
  overlay_service_options opts;
  /// One push, rollback or clear at a time: the rest wait here.
  std::deque<std::function<void()>> queue;
  bool busy = false;
  /// Bumped by every push, rollback and clear: a probation of an older one ends.
  uint64_t generation = 0;
  /// The apps on probation (empty: none) and the generation they belong to.
  std::set<std::string> probation;
  uint64_t probation_generation = 0;
  /// Apps of the operation under way that went down while it waited for the
  /// others (a crash right after its ready): they fail its probation at once.
  std::set<std::string> watching;
  failures went_down;
  std::optional<overlay_result> last_rollback;
};

caf::error unavailable() {
  return runtime::make_error(runtime::overlay_errc::unavailable,
                             "overlays are not available on this device");
}

std::vector<std::pair<std::string, bool>> entries(const std::vector<runtime::stack_entry>& es) {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& e : es) {
    out.emplace_back(e.name, e.persistent);
  }
  return out;
}

/// The last lines an app wrote to stderr, for the host.
std::vector<std::string> output_of(const std::string& app) {
  return runtime::app_output::last_lines(app);
}

std::set<std::string> changed(const runtime::overlay_change& change) {
  std::set<std::string> apps;
  for (const auto& [app, hashes] : change.changed_apps) {
    apps.insert(app);
  }
  return apps;
}

std::string mark_path(const overlay_service_options& opts) {
  return (fs::path{opts.persistent_dir} / switch_mark_file).string();
}

std::string mark_path(const service_state& st) {
  return mark_path(st.opts);
}

class service {
 public:
  service(caf::event_based_actor* self, std::shared_ptr<service_state> st)
      : self_(self), st_(std::move(st)) {}

  /// Runs `op` now, or after the operations before it. `op` calls done().
  void enqueue(std::function<void()> op) {
    st_->queue.push_back(std::move(op));
    if (!st_->busy) {
      next();
    }
  }

  void done() {
    st_->busy = false;
    st_->watching.clear();
    st_->went_down.clear();
    next();
  }

  /// Restarts `apps` (but those stopped on purpose) and calls `then` with the
  /// ones that did not answer running within start_timeout, and the rows of
  /// those that did.
  void restart_all(const std::set<std::string>& apps,
                   std::function<void(failures, std::map<std::string, app_status>)> then) {
    auto mgr = self_->system().registry().get<caf::actor>(apps_registry_name);
    if (!mgr || apps.empty()) {
      return then({}, {});
    }
    st_->watching.insert(apps.begin(), apps.end());
    auto timeout = st_->opts.start_timeout;
    self_->request(mgr, 5s, apps_status_atom::value)
        .then(
            [this, mgr, apps, timeout, then](std::vector<app_status>& rows) {
              std::set<std::string> todo;
              for (const auto& name : apps) {
                auto row = std::find_if(rows.begin(), rows.end(),
                                        [&](const app_status& r) { return r.name == name; });
                // An app the manager does not have is new: the restart
                // installs it. One stopped on purpose stays stopped.
                if (row == rows.end() || row->state != "stopped") {
                  todo.insert(name);
                }
              }
              collect(mgr, todo, timeout, then);
            },
            [this, mgr, apps, timeout, then](caf::error&) { collect(mgr, apps, timeout, then); });
  }

  /// Applies `bundle`; answers `rp`.
  void push(std::string bundle, caf::typed_response_promise<overlay_result> rp) {
    auto gen = begin();
    auto change = st_->opts.store->apply(bundle);
    if (!change) {
      rp.deliver(change.error());
      return done();
    }
    auto apps = changed(*change);
    auto overlay = change->overlay;
    restart_all(apps, [this, rp, apps, overlay, gen](
                          failures failed, std::map<std::string, app_status> rows) mutable {
      if (!failed.empty()) {
        return roll_back(failed, "did not start", [this, rp, overlay](overlay_result out) mutable {
          out.overlay = overlay;
          rp.deliver(std::move(out));
          done();
        });
      }
      overlay_result out;
      out.overlay = overlay;
      out.apps = rows_of(apps, rows);
      if (apps.empty() || st_->opts.probation.count() == 0) {
        if (auto err = st_->opts.store->mark_good()) {
          log()->error("overlays: cannot record last-good: {}", runtime::describe(err));
        }
      } else {
        out.probation_s = st_->opts.probation.count();
        start_probation(gen, apps);
      }
      auto down = std::move(st_->went_down);
      rp.deliver(std::move(out));
      done();
      for (auto& [app, why] : down) {
        on_down(app, why);
      }
    });
  }

  /// Rollback (clear = false) or clear, and the restart of what changed.
  void reset(bool clear, caf::typed_response_promise<overlay_result> rp) {
    begin();
    auto& store = *st_->opts.store;
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
      rp.deliver(err);
      return done();
    }
    std::set<std::string> apps;
    auto now = store.apps();
    for (const auto& [app, hash] : before) {
      if (now.count(app) == 0 || hash_or_empty(store.app_hash(app)) != hash) {
        apps.insert(app);
      }
    }
    restart_all(apps,
                [this, rp, apps](failures failed, std::map<std::string, app_status> rows) mutable {
                  overlay_result out;
                  out.ok = failed.empty();
                  out.apps = rows_of(apps, rows);
                  out.failed = std::move(failed);
                  rp.deliver(std::move(out));
                  done();
                });
  }

  /// An app went down on its own.
  void on_down(const std::string& app, const std::string& why) {
    if (st_->busy) {
      if (st_->watching.count(app) != 0) {
        st_->went_down.emplace(app, why);
      }
      return;
    }
    if (st_->probation.count(app) == 0) {
      return;
    }
    auto gen = st_->probation_generation;
    enqueue([this, app, why, gen] {
      if (st_->generation != gen || st_->probation.empty()) {
        // A newer push or rollback decided in between.
        return done();
      }
      begin();
      roll_back({{app, why}}, "failed on probation", [this](overlay_result) { done(); });
    });
  }

  void end_probation(uint64_t gen) {
    if (st_->generation != gen || st_->probation.empty()) {
      return;
    }
    enqueue([this, gen] {
      if (st_->generation == gen && !st_->probation.empty()) {
        st_->probation.clear();
        if (auto err = st_->opts.store->mark_good()) {
          log()->error("overlays: cannot record last-good: {}", runtime::describe(err));
        } else {
          log()->info("overlays: probation passed; the stack is last-good");
        }
      }
      done();
    });
  }

  void start_probation(uint64_t gen, std::set<std::string> apps) {
    st_->probation = std::move(apps);
    st_->probation_generation = gen;
    self_timer(self_, st_->opts.probation, probation_end_atom::value, gen);
  }

  /// A stack that was not yet proven good when myelin-boot stopped goes
  /// through probation again: the apps that run files of overlays newer
  /// than last-good.
  void boot_probation() {
    const auto& store = *st_->opts.store;
    std::set<std::string> good;
    for (const auto& e : store.last_good()) {
      good.insert(e.name);
    }
    std::set<std::string> apps;
    for (const auto& app : store.apps()) {
      auto tree = store.tree(app);
      if (!tree) {
        continue;
      }
      for (const auto& [path, f] : *tree) {
        if (!f.overlay.empty() && good.count(f.overlay) == 0) {
          apps.insert(app);
          break;
        }
      }
    }
    if (apps.empty()) {
      return;
    }
    log()->info("overlays: the stack is on probation for {} s", st_->opts.probation.count());
    start_probation(st_->generation, std::move(apps));
  }

 private:
  void next() {
    if (st_->queue.empty()) {
      return;
    }
    auto op = std::move(st_->queue.front());
    st_->queue.pop_front();
    st_->busy = true;
    op();
  }

  /// A new operation: the probation of the one before ends (it decides).
  uint64_t begin() {
    st_->probation.clear();
    return ++st_->generation;
  }

  void collect(const caf::actor& mgr, const std::set<std::string>& apps,
               std::chrono::milliseconds timeout,
               std::function<void(failures, std::map<std::string, app_status>)> then) {
    if (apps.empty()) {
      return then({}, {});
    }
    struct pending {
      size_t left;
      failures failed;
      std::map<std::string, app_status> rows;
      std::function<void(failures, std::map<std::string, app_status>)> then;
    };
    auto p = std::make_shared<pending>(pending{apps.size(), {}, {}, std::move(then)});
    auto one_done = [p] {
      if (--p->left == 0) {
        p->then(std::move(p->failed), std::move(p->rows));
      }
    };
    for (const auto& name : apps) {
      self_->request(mgr, timeout, app_restart_atom::value, name)
          .then(
              [p, name, one_done](app_status& row) {
                p->rows[name] = std::move(row);
                one_done();
              },
              [p, name, timeout, one_done](caf::error& err) {
                p->failed[name] =
                    err.category() == caf::atom("system") &&
                            err.code() == static_cast<uint8_t>(caf::sec::request_timeout)
                        ? "it did not come up within " + std::to_string(timeout.count()) + " ms"
                        : runtime::describe(err);
                one_done();
              });
    }
  }

  std::vector<overlay_app_row> rows_of(const std::set<std::string>& apps,
                                       const std::map<std::string, app_status>& rows) const {
    std::vector<overlay_app_row> out;
    for (const auto& name : apps) {
      overlay_app_row row;
      row.name = name;
      row.hash = hash_or_empty(st_->opts.store->app_hash(name));
      if (auto i = rows.find(name); i != rows.end() && i->second.state != "removed") {
        row.state = i->second.state;
        row.module = i->second.module;
      }
      out.push_back(std::move(row));
    }
    return out;
  }

  /// Rolls the stack back after `failed`, restarts what changed, records the
  /// rollback and hands the result to `then`.
  void roll_back(const failures& failed, const std::string& when,
                 std::function<void(overlay_result)> then) {
    std::string why;
    overlay_result out;
    out.ok = false;
    out.failed = failed;
    for (const auto& [app, reason] : failed) {
      why += (why.empty() ? "" : "; ") + std::string{"app "} + app + " " + when + ": " + reason;
      out.log[app] = output_of(app);
    }
    st_->probation.clear();
    auto change = st_->opts.store->rollback();
    if (!change) {
      out.error = why + "; rolling back failed: " + runtime::describe(change.error());
      log()->error("overlays: {}", out.error);
      st_->last_rollback = out;
      return then(std::move(out));
    }
    auto apps = changed(*change);
    restart_all(apps, [this, out, why, apps, then](failures again,
                                                   std::map<std::string, app_status> rows) mutable {
      out.rolled_back = true;
      out.error = why + "; the overlay stack was rolled back to last-good";
      if (!again.empty()) {
        out.error += " (but the old version did not come up either)";
      }
      out.apps = rows_of(apps, rows);
      log()->error("overlays: {}", out.error);
      st_->last_rollback = out;
      then(std::move(out));
    });
  }

  caf::event_based_actor* self_;
  std::shared_ptr<service_state> st_;
};

overlays_info info_of(const service_state& st) {
  overlays_info out;
  const auto& store = *st.opts.store;
  for (const auto& name : store.apps()) {
    out.apps[name] = hash_or_empty(store.app_hash(name));
    if (store.options().known_apps.count(name) == 0) {
      out.pushed_apps.push_back(name);
    }
  }
  out.stack = entries(store.stack());
  out.last_good = entries(store.last_good());
  out.allow_new_apps = store.options().allow_new_apps;
  out.max_bytes = store.options().max_bytes;
  out.firmware_uuid = store.running_firmware();
  out.sequence = store.last_sequence();
  out.bound = store.options().require_binding;
  if (st.last_rollback) {
    out.has_last_rollback = true;
    out.last_rollback = *st.last_rollback;
  }
  std::error_code ec;
  out.aside_at_boot = fs::exists(mark_path(st), ec);
  if (auto aside = store.aside()) {
    out.has_aside = true;
    out.aside_slot = aside->slot;
    out.aside_stack = entries(aside->stack);
  }
  return out;
}

/// Records (or withdraws) the switch mark for a switch from `from` to `to`.
caf::error note_switch(const service_state& st, const std::string& from, const std::string& to) {
  auto path = mark_path(st);
  std::string made_for;
  if (std::ifstream in{path}; in) {
    std::getline(in, made_for);
  }
  if (!made_for.empty() && to == made_for) {
    // Back to the firmware the overlays were made for: they stay.
    std::error_code ec;
    fs::remove(path, ec);
    log()->info("overlays: the next boot runs slot {} again; the overlays stay", to);
    return {};
  }
  if (!made_for.empty()) {
    return {};
  }
  // Durable: the switch itself (one kv write) is, and a mark lost with a
  // power cut would run these overlays on the other firmware.
  if (auto err = runtime::write_file_durably(path, from + "\n")) {
    return runtime::make_error(runtime::overlay_errc::io_error, runtime::describe(err));
  }
  log()->info(
      "overlays: firmware switched from slot {} to {}; the next boot sets the overlays aside "
      "until it is validated",
      from, to);
  return {};
}

/// The overlays follow the firmware (decision 0077). Runs at the service's
/// start, after kv and before any app: `kv` is the environment as the boot
/// found it.
void follow_firmware(const overlay_service_options& opts, const runtime::kv_map& kv) {
  auto& store = *opts.store;
  auto status = runtime::status_of(kv);
  const auto& active = status.active;
  auto uuid_of = [&kv](const std::string& slot) {
    auto i = kv.find(slot + ".nerves_fw_uuid");
    return i == kv.end() ? std::string{} : i->second;
  };
  // What signed overlays must be made for until the next boot (a firmware
  // installed meanwhile runs only after it).
  store.set_running_firmware(uuid_of(active));
  std::string made_for;
  auto mark = mark_path(opts);
  if (std::ifstream in{mark}; in) {
    std::getline(in, made_for);
  }
  auto remove_mark = [&mark] {
    std::error_code ec;
    fs::remove(mark, ec);
  };
  auto aside = store.aside();
  if (aside && !active.empty() && aside->slot == active && aside->uuid == uuid_of(active)) {
    // The firmware they were made for runs again: the other one reverted.
    // What was pushed on that one belongs to it, and goes.
    if (auto err = store.restore_aside()) {
      log()->error("overlays: cannot restore the overlays of slot {}: {}", active,
                   runtime::describe(err));
      return;
    }
    remove_mark();
    log()->info("overlays: slot {} runs again; its overlays are back ({} overlay(s))", active,
                store.stack().size());
    return;
  }
  if (!made_for.empty()) {
    if (made_for != active) {
      if (auto err = store.set_aside(made_for, uuid_of(made_for))) {
        // Running them on other firmware is worse than running none.
        log()->error("overlays: cannot set the overlays of slot {} aside: {}; clearing them",
                     made_for, runtime::describe(err));
        if (auto cleared = store.clear()) {
          log()->error("overlays: cannot clear them either: {}", runtime::describe(cleared));
          return;
        }
      } else if (store.aside()) {
        log()->info(
            "overlays: set aside (they were pushed on the firmware in slot {}): kept until the "
            "firmware in slot {} is validated, back if it reverts",
            made_for, active);
      }
    }
    remove_mark();
  }
  aside = store.aside();
  if (!aside) {
    return;
  }
  std::string why;
  if (aside->slot == active) {
    why = "slot " + active + " holds other firmware now";
  } else if (!runtime::holds_firmware(kv, aside->slot) || uuid_of(aside->slot) != aside->uuid) {
    why = "slot " + aside->slot + " no longer holds the firmware they were made for";
  } else if (runtime::firmware_valid(kv)) {
    why = "the firmware in slot " + active + " is validated";
  }
  if (!why.empty()) {
    if (auto err = store.drop_aside()) {
      log()->error("overlays: cannot drop the overlays set aside: {}", runtime::describe(err));
    } else {
      log()->info("overlays: the overlays set aside are dropped: {}", why);
    }
  }
}

caf::behavior overlays_service(caf::event_based_actor* self, overlay_service_options opts) {
  auto st = std::make_shared<service_state>();
  st->opts = std::move(opts);
  auto svc = std::make_shared<service>(self, st);
  if (st->opts.store) {
    svc->boot_probation();
  }
  return {
      [st](overlays_info_atom) -> caf::result<overlays_info> {
        if (!st->opts.store) {
          return unavailable();
        }
        return info_of(*st);
      },
      [st](overlays_files_atom, const std::string& app) -> caf::result<overlay_app_files> {
        if (!st->opts.store) {
          return unavailable();
        }
        const auto& store = *st->opts.store;
        if (store.apps().count(app) == 0) {
          return runtime::make_error(runtime::overlay_errc::unknown_app,
                                     "the device has no app '" + app + "'");
        }
        auto hashes = store.file_hashes(app);
        if (!hashes) {
          return hashes.error();
        }
        return overlay_app_files{app, runtime::app_hash_of(*hashes), std::move(*hashes)};
      },
      [self, st, svc](overlays_push_atom, std::string& bundle) -> caf::result<overlay_result> {
        if (!st->opts.store) {
          return unavailable();
        }
        auto rp = self->make_response_promise<overlay_result>();
        svc->enqueue(
            [svc, rp, bundle = std::move(bundle)]() mutable { svc->push(std::move(bundle), rp); });
        return rp;
      },
      [self, st, svc](overlays_rollback_atom) -> caf::result<overlay_result> {
        if (!st->opts.store) {
          return unavailable();
        }
        auto rp = self->make_response_promise<overlay_result>();
        svc->enqueue([svc, rp]() mutable { svc->reset(false, rp); });
        return rp;
      },
      [self, st, svc](overlays_clear_atom) -> caf::result<overlay_result> {
        if (!st->opts.store) {
          return unavailable();
        }
        auto rp = self->make_response_promise<overlay_result>();
        svc->enqueue([svc, rp]() mutable { svc->reset(true, rp); });
        return rp;
      },
      [st](overlays_switch_atom, const std::string& from,
           const std::string& to) -> caf::result<caf::unit_t> {
        if (auto err = note_switch(*st, from, to)) {
          return err;
        }
        return caf::unit;
      },
      [st](overlays_validated_atom) -> caf::result<caf::unit_t> {
        if (st->opts.store && st->opts.store->aside()) {
          if (auto err = st->opts.store->drop_aside()) {
            return err;
          }
          log()->info("overlays: the firmware is validated; the overlays set aside are dropped");
        }
        return caf::unit;
      },
      [svc](app_down_atom, const std::string& app, const std::string& why) {
        svc->on_down(app, why);
      },
      [svc](probation_end_atom, uint64_t gen) { svc->end_probation(gen); },
  };
}

}  // namespace

supervisors::start_fn overlays_start(overlay_service_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    // Detached: an apply writes files and fsyncs; it must not hold a
    // scheduler thread that other services need.
    if (opts.store) {
      // kv started before us and published what the boot found.
      if (auto kv = kv_snapshot::of(sys).current()) {
        follow_firmware(opts, kv->values);
      } else {
        log()->error("overlays: no kv service: the overlays cannot follow the firmware");
      }
    }
    auto self = sys.spawn<caf::detached>(overlays_service, opts);
    register_service(sys, overlays_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
