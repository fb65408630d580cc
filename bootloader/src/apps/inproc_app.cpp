// Apps run inside myelin-boot (isolation = "inproc").
#include "apps/inproc_app.hpp"

#include <filesystem>
#include <mutex>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "apphost/context_base.hpp"
#include "apphost/module_loader.hpp"
#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/bootloader/apps.hpp"
#include "myelin/runtime/config/config.hpp"

namespace myelin::bootloader {

namespace {

using kill_atom = caf::atom_constant<caf::atom("hardkill")>;

/// What the app sees: the core's own actor system and services.
class inproc_context : public context_base {
 public:
  using context_base::context_base;

  caf::actor kv() override { return registered(actors::kv_registry_name); }
  caf::actor firmware() override { return registered(actors::firmware_registry_name); }
  caf::actor uevent() override { return registered(actors::uevent_registry_name); }
  caf::actor net() override { return registered(actors::net_registry_name); }

 private:
  caf::actor registered(caf::atom_value name) { return system().registry().get<caf::actor>(name); }
};

struct inproc_state {
  app_host_options opts;
  std::shared_ptr<inproc_context> ctx;
  caf::actor root;
  caf::actor commands;
  bool root_down = false;
  bool stopping = false;
  caf::error stop_reason;
  /// "start" or "start_host".
  std::string start_name;
};

/// Runs the app's commands, one at a time (spawned detached: may block).
caf::behavior command_runner(caf::event_based_actor*, const app::definition* app,
                             std::shared_ptr<inproc_context> ctx) {
  return {[app, ctx](app_call_atom, const std::string& name,
                     const std::vector<std::string>& args) -> caf::result<std::string> {
    auto i = app->commands.find(name);
    if (i == app->commands.end()) {
      std::string known;
      for (const auto& [n, fn] : app->commands) {
        known += (known.empty() ? "" : ", ") + n;
      }
      return make_error(app_errc::command_failed,
                        "unknown command '" + name +
                            "' (known: " + (known.empty() ? std::string{"none"} : known) + ")");
    }
    try {
      auto reply = i->second(*ctx, args);
      if (reply) {
        return std::move(*reply);
      }
      return make_error(app_errc::command_failed, runtime::describe(reply.error()));
    } catch (const std::exception& e) {
      return make_error(app_errc::command_failed, std::string{"command threw: "} + e.what());
    } catch (...) {
      return make_error(app_errc::command_failed, "command threw an unknown exception");
    }
  }};
}

caf::behavior inproc_host(caf::event_based_actor* self, std::shared_ptr<inproc_state> st) {
  self->monitor(st->root);
  // However this actor ends, the app's tree and its command thread end too.
  self->attach_functor([st] {
    if (!st->root_down) {
      caf::anon_send_exit(st->root, caf::exit_reason::kill);
    }
    caf::anon_send_exit(st->commands, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self, st](caf::down_msg& msg) {
    if (msg.source != st->root.address()) {
      return;
    }
    st->root_down = true;
    caf::error reason;
    std::string text;
    if (st->stopping) {
      reason = st->stop_reason;
      text = st->stop_reason == caf::exit_reason::user_shutdown ? "stopped"
                                                                : runtime::describe(reason);
    } else if (msg.reason == caf::exit_reason::normal) {
      reason = caf::exit_reason::normal;
      text = "exited normally";
    } else {
      reason = make_error(app_errc::exited, "the app's supervision tree gave up (" +
                                                self->system().render(msg.reason) + ")");
      text = runtime::describe(reason);
    }
    caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name, std::string{"exited"},
                   text);
    self->quit(reason);
  });
  self->set_exit_handler([self, st](caf::exit_msg& msg) {
    if (st->stopping) {
      return;
    }
    st->stopping = true;
    st->stop_reason = msg.reason;
    self->send_exit(st->root, caf::exit_reason::user_shutdown);
    actors::self_timer(self, st->opts.stop_timeout, kill_atom::value);
  });
  caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name, std::string{"start"},
                 st->start_name);
  caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name, std::string{"ready"},
                 st->opts.module);
  caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name, std::string{"memory"},
                 std::string{"none (inproc)"});
  return {
      [self, st](app_call_atom, std::string& command, std::vector<std::string>& args) {
        return self->delegate(st->commands, app_call_atom::value, std::move(command),
                              std::move(args));
      },
      [st](kill_atom) {
        if (!st->root_down) {
          spdlog::default_logger()->warn("app {}: did not stop within {} ms; killing it",
                                         st->opts.name, st->opts.stop_timeout.count());
          caf::anon_send_exit(st->root, caf::exit_reason::kill);
        }
      },
  };
}

}  // namespace

supervisors::start_fn inproc_app_start(app_host_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto loaded = load_module(opts.module);
    if (!loaded) {
      return make_error(app_errc::module_refused, runtime::describe(loaded.error()));
    }
    {
      // Never unloaded: code of the module may run until the process ends.
      static std::mutex mtx;
      static auto* kept = new std::vector<std::shared_ptr<void>>;
      std::lock_guard<std::mutex> guard{mtx};
      kept->push_back(loaded->handle);
    }
    auto st = std::make_shared<inproc_state>();
    st->opts = opts;
    // Inside myelin-boot: its user, no sandbox; the data directory all the same.
    auto id_opts = opts.identity;
    id_opts.own_user = false;
    auto identity = runtime::app_identity_for(opts.name, id_opts);
    if (!identity) {
      return make_error(app_errc::start_failed,
                        "app data directory: " + runtime::describe(identity.error()));
    }
    st->ctx = std::make_shared<inproc_context>(
        sys, opts.name, std::filesystem::path{opts.module}.parent_path().string(), opts.target,
        identity->data_dir);
    caf::expected<caf::actor> root{caf::error{}};
    auto [start, start_name] = app::start_for(*loaded->app, opts.target);
    st->start_name = start_name;
    try {
      root = (*start)(*st->ctx);
    } catch (const std::exception& e) {
      root = make_error(app_errc::start_failed, std::string{"start threw: "} + e.what());
    }
    if (!root) {
      return make_error(app_errc::start_failed, runtime::describe(root.error()));
    }
    if (!*root) {
      return make_error(app_errc::start_failed, "start returned no actor");
    }
    st->root = *root;
    st->commands = sys.spawn<caf::detached>(command_runner, loaded->app, st->ctx);
    return sys.spawn(inproc_host, st);
  };
}

}  // namespace myelin::bootloader
