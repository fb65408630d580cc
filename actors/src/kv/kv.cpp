// The kv service actor.
#include "myelin/actors/kv.hpp"

#include "myelin/actors/kv_snapshot.hpp"
#include "myelin/actors/registry.hpp"

#include <filesystem>
#include <fstream>
#include <memory>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/runtime/kv/kv_store.hpp"
#include "myelin/runtime/kv/memory_kv.hpp"
#include "myelin/runtime/kv/uboot_env.hpp"

namespace myelin::actors {

namespace {

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("kv");
  return l ? l : spdlog::default_logger();
}

std::unique_ptr<runtime::kv_backend> make_backend(const kv_options& opts) {
  if (opts.backend == "memory") {
    return std::make_unique<runtime::memory_kv_backend>(opts.initial);
  }
  if (opts.backend == "file") {
    runtime::kv_changes initial;
    for (const auto& [k, v] : opts.initial) {
      initial.emplace(k, v);
    }
    auto env = runtime::open_file_env(opts.file_dir, opts.file_size, initial);
    if (env) {
      return std::move(*env);
    }
    log()->error("kv: cannot set up the host environment in {}: {}", opts.file_dir,
                 runtime::describe(env.error()));
    // Keep pointing at it: every later read and write retries and reports.
    return std::make_unique<runtime::uboot_env_backend>(
        (std::filesystem::path{opts.file_dir} / "fw_env.config").string());
  }
  return std::make_unique<runtime::uboot_env_backend>(opts.fw_env_config, opts.defaults);
}

struct kv_state {
  std::unique_ptr<runtime::kv_store> store;
  kv_options opts;
  static inline const char* name = "kv";
};

caf::error logged(const caf::error& err, const char* what) {
  if (err) {
    log()->warn("kv: {} failed: {}", what, runtime::describe(err));
  }
  return err;
}

kv_status status_of(const runtime::kv_store& store) {
  kv_status s;
  s.backend = store.backend_name();
  s.error = store.last_error() ? runtime::describe(store.last_error()) : "";
  s.keys = store.get_all().size();
  s.notice = store.backend_notice();
  return s;
}

/// Publishes the store for readers that bypass the mailbox (kv_snapshot.hpp);
/// called after every change, before the reply.
/// Publishes what `store` holds. The owner is the store: one store per kv
/// service instance, published first by its start function (so that the
/// services started after kv read it at once, decision 0077).
void publish(caf::actor_system& sys, const runtime::kv_store& store) {
  auto next = std::make_shared<kv_snapshot::contents>();
  next->values = store.get_all();
  next->status = status_of(store);
  next->owner = &store;
  kv_snapshot::of(sys).publish(std::move(next));
}

void publish(caf::stateful_actor<kv_state>* self) {
  publish(self->system(), *self->state.store);
}

/// Runs a change of the store and publishes the result, whatever it was.
template <class F>
caf::error changed(caf::stateful_actor<kv_state>* self, F&& change) {
  auto before = self->state.store->backend_notice();
  auto err = change();
  if (auto now = self->state.store->backend_notice(); now != before) {
    log()->warn("kv: {}: {}", self->state.store->backend_name(), now);
  }
  publish(self);
  return err;
}

}  // namespace

caf::expected<kv_options> kv_options_from(const runtime::config& cfg,
                                          const std::string& state_dir) {
  kv_options o;
  o.backend = cfg.get_string("kv.backend");
  o.fw_env_config = cfg.get_string("kv.fw_env_config");
  o.file_dir = (std::filesystem::path{state_dir} / "kv").string();
  o.file_size = static_cast<uint64_t>(cfg.get_int("kv.file_size"));
  // The environment U-Boot starts from without a valid copy (decision 0076).
  if (auto path = cfg.get_string("kv.defaults_file"); !path.empty()) {
    std::ifstream in(path);
    for (std::string line; in && std::getline(in, line);) {
      auto eq = line.find('=');
      if (line.empty() || line[0] == '#' || eq == std::string::npos || eq == 0) {
        continue;
      }
      o.defaults[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  for (const auto& entry : cfg.get_list("kv.initial")) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      return runtime::make_error(runtime::config_errc::invalid_value,
                                 "kv.initial: '" + entry + "' is not KEY=VALUE");
    }
    auto key = entry.substr(0, eq);
    if (auto err = runtime::check_key(key)) {
      return runtime::make_error(runtime::config_errc::invalid_value,
                                 "kv.initial: " + runtime::describe(err));
    }
    o.initial[key] = entry.substr(eq + 1);
    o.defaults[key] = entry.substr(eq + 1);
  }
  for (const auto& text : cfg.get_list("serial.strategies")) {
    auto s = runtime::parse_serial_strategy(text);
    if (!s) {
      return s.error();
    }
    o.serial.strategies.push_back(*s);
  }
  o.serial.prefix = cfg.get_string("serial.prefix");
  o.serial.keep_rightmost = static_cast<size_t>(cfg.get_int("serial.keep_rightmost"));
  o.serial.fallback = cfg.get_string("serial.fallback");
  return o;
}

supervisors::start_fn kv_start(kv_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    // The store is opened (and, in host mode, created) here, in the starter's
    // context: once kv counts as started, its store exists (decision 0011).
    auto opened = std::make_shared<std::unique_ptr<runtime::kv_store>>(
        std::make_unique<runtime::kv_store>(make_backend(opts)));
    publish(sys, **opened);
    auto self = sys.spawn([opts, opened](caf::stateful_actor<kv_state>* self) -> caf::behavior {
      self->state.opts = opts;
      self->state.store = std::move(*opened);
      auto& store = *self->state.store;
      if (store.last_error()) {
        log()->error(
            "kv: {} cannot be read: {}; serving what is left, a write will "
            "create a valid store",
            store.backend_name(), runtime::describe(store.last_error()));
      } else {
        log()->info("kv: {} with {} keys", store.backend_name(), store.get_all().size());
      }
      publish(self);
      self->attach_functor(
          [sys = &self->system(), owner = static_cast<const void*>(self->state.store.get())] {
            kv_snapshot::of(*sys).withdraw(owner);
          });
      return {
          [self](kv_get_atom, const std::string& key) -> caf::result<std::string> {
            if (auto v = self->state.store->get(key)) {
              return *v;
            }
            return runtime::make_error(runtime::kv_errc::not_found, "no key '" + key + "'");
          },
          [self](kv_get_all_atom) { return self->state.store->get_all(); },
          [self](kv_get_active_atom, const std::string& key) -> caf::result<std::string> {
            if (auto v = self->state.store->get_active(key)) {
              return *v;
            }
            return runtime::make_error(
                runtime::kv_errc::not_found,
                "no key '" + self->state.store->active_slot() + "." + key + "'");
          },
          [self](kv_get_all_active_atom) { return self->state.store->get_all_active(); },
          [self](kv_put_atom, const runtime::kv_map& values) -> caf::result<caf::unit_t> {
            if (auto err =
                    changed(self, [&] { return logged(self->state.store->put(values), "put"); })) {
              return err;
            }
            return caf::unit;
          },
          [self](kv_put_active_atom, const runtime::kv_map& values) -> caf::result<caf::unit_t> {
            if (auto err = changed(self, [&] {
                  return logged(self->state.store->put_active(values), "put_active");
                })) {
              return err;
            }
            return caf::unit;
          },
          [self](kv_apply_atom, const runtime::kv_changes& changes) -> caf::result<caf::unit_t> {
            if (auto err = changed(
                    self, [&] { return logged(self->state.store->apply(changes), "write"); })) {
              return err;
            }
            return caf::unit;
          },
          [self](kv_update_atom, const kv_update_fn& fn) -> caf::result<caf::unit_t> {
            auto changes = fn(self->state.store->get_all());
            if (!changes) {
              return changes.error();
            }
            if (auto err = changed(
                    self, [&] { return logged(self->state.store->apply(*changes), "update"); })) {
              return err;
            }
            return caf::unit;
          },
          [self](kv_reload_atom) -> caf::result<caf::unit_t> {
            if (auto err =
                    changed(self, [&] { return logged(self->state.store->reload(), "reload"); })) {
              return err;
            }
            return caf::unit;
          },
          [self](kv_status_atom) { return status_of(*self->state.store); },
          [self](serial_atom) {
            return runtime::serial_number(self->state.opts.serial, self->state.store->get_all());
          },
      };
    });
    register_service(sys, kv_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
