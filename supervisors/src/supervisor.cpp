// Flags and specs, errors, validation, start_supervisor and the blocking helpers.
#include "myelin/supervisors/supervisor.hpp"

#include <exception>
#include <unordered_set>
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "report.hpp"
#include "supervisor_actor.hpp"

namespace myelin::supervisors {

namespace {

const caf::atom_value error_category = caf::atom("supervisor");

template <class T, class... Ts>
caf::expected<T> blocking_request(caf::actor_system& sys, const caf::actor& sup,
                                  std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::expected<T> result{caf::make_error(caf::sec::request_timeout)};
  self->request(sup, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); }, [&](caf::error& e) { result = std::move(e); });
  return result;
}

template <class... Ts>
caf::error blocking_unit_request(caf::actor_system& sys, const caf::actor& sup,
                                 std::chrono::milliseconds timeout, Ts&&... xs) {
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(sup, timeout, std::forward<Ts>(xs)...)
      .receive([&]() {}, [&](caf::error& e) { result = std::move(e); });
  return result;
}

caf::expected<caf::actor> call_start(const child_spec& spec, caf::actor_system& sys) {
  try {
    return spec.start(sys, caf::message{});
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{"start threw: "} + e.what());
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, "start threw");
  }
}

}  // namespace

// -- child specs --------------------------------------------------------------

child_spec worker(std::string id, start_fn start) {
  child_spec result;
  result.id = std::move(id);
  result.start = std::move(start);
  result.type = child_type::worker;
  return result;
}

child_spec supervisor(std::string id, start_fn start) {
  child_spec result;
  result.id = std::move(id);
  result.start = std::move(start);
  result.type = child_type::supervisor;
  return result;
}

shutdown_spec effective_shutdown(const child_spec& spec) {
  if (spec.shutdown) {
    return *spec.shutdown;
  }
  return spec.type == child_type::supervisor ? shutdown_spec::infinity()
                                             : shutdown_spec::after(std::chrono::seconds{5});
}

// -- errors -------------------------------------------------------------------

std::string to_string(supervisor_errc x) {
  switch (x) {
    case supervisor_errc::invalid_intensity:
      return "invalid_intensity";
    case supervisor_errc::invalid_period:
      return "invalid_period";
    case supervisor_errc::invalid_simple_one_for_one:
      return "invalid_simple_one_for_one";
    case supervisor_errc::missing_id:
      return "missing_id";
    case supervisor_errc::missing_start:
      return "missing_start";
    case supervisor_errc::duplicate_child_id:
      return "duplicate_child_id";
    case supervisor_errc::invalid_shutdown:
      return "invalid_shutdown";
    case supervisor_errc::invalid_significant:
      return "invalid_significant";
    case supervisor_errc::failed_to_start_child:
      return "failed_to_start_child";
    case supervisor_errc::already_started:
      return "already_started";
    case supervisor_errc::already_present:
      return "already_present";
    case supervisor_errc::not_found:
      return "not_found";
    case supervisor_errc::running:
      return "running";
    case supervisor_errc::restarting:
      return "restarting";
    case supervisor_errc::simple_one_for_one:
      return "simple_one_for_one";
    case supervisor_errc::start_failed:
      return "start_failed";
    case supervisor_errc::reached_max_restart_intensity:
      return "reached_max_restart_intensity";
    case supervisor_errc::invalid_backoff:
      return "invalid_backoff";
  }
  return "supervisor_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(supervisor_errc x) {
  return caf::error{static_cast<uint8_t>(x), error_category};
}

caf::error make_error(supervisor_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), error_category, caf::make_message(std::move(context))};
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(
      error_category, [](uint8_t code, caf::atom_value, const caf::message& ctx) {
        auto result = "supervisor: " + to_string(static_cast<supervisor_errc>(code));
        if (ctx.match_elements<std::string>()) {
          result += " (" + ctx.get_as<std::string>(0) + ")";
        } else if (!ctx.empty()) {
          result += " " + to_string(ctx);
        }
        return result;
      });
}

// -- validation ---------------------------------------------------------------

caf::error check_childspec(const supervisor_flags& flags, const child_spec& spec) {
  if (spec.id.empty()) {
    return make_error(supervisor_errc::missing_id, "a child spec has an empty id");
  }
  if (!spec.start) {
    return make_error(supervisor_errc::missing_start, "child '" + spec.id + "'");
  }
  if (spec.shutdown && spec.shutdown->how == shutdown_spec::kind::timeout &&
      spec.shutdown->timeout.count() < 0) {
    return make_error(supervisor_errc::invalid_shutdown,
                      "child '" + spec.id + "': negative shutdown timeout");
  }
  if (spec.significant) {
    if (spec.restart == restart_type::permanent) {
      return make_error(supervisor_errc::invalid_significant,
                        "child '" + spec.id + "': a permanent child cannot be significant");
    }
    if (flags.auto_shutdown == auto_shutdown::never) {
      return make_error(supervisor_errc::invalid_significant,
                        "child '" + spec.id + "': significant under auto_shutdown never");
    }
  }
  return caf::none;
}

caf::error check_childspecs(const supervisor_flags& flags, const std::vector<child_spec>& specs) {
  if (flags.intensity < 0) {
    return make_error(supervisor_errc::invalid_intensity,
                      "intensity " + std::to_string(flags.intensity) + " < 0");
  }
  if (flags.period.count() <= 0) {
    return make_error(supervisor_errc::invalid_period,
                      "period " + std::to_string(flags.period.count()) + "ms <= 0");
  }
  if (flags.backoff) {
    const auto& b = *flags.backoff;
    if (b.min.count() <= 0) {
      return make_error(supervisor_errc::invalid_backoff, "backoff min <= 0");
    }
    if (b.max < b.min) {
      return make_error(supervisor_errc::invalid_backoff, "backoff max < min");
    }
    if (!(b.jitter >= 0.0 && b.jitter <= 1.0)) {
      return make_error(supervisor_errc::invalid_backoff, "backoff jitter outside [0, 1]");
    }
    if (b.reset_after.count() <= 0) {
      return make_error(supervisor_errc::invalid_backoff, "backoff reset_after <= 0");
    }
  }
  if (flags.strategy == strategy::simple_one_for_one && specs.size() != 1) {
    return make_error(
        supervisor_errc::invalid_simple_one_for_one,
        "simple_one_for_one needs exactly one child spec, got " + std::to_string(specs.size()));
  }
  std::unordered_set<std::string> ids;
  for (const auto& spec : specs) {
    if (auto err = check_childspec(flags, spec)) {
      return err;
    }
    if (!ids.insert(spec.id).second) {
      return make_error(supervisor_errc::duplicate_child_id, "child '" + spec.id + "'");
    }
  }
  return caf::none;
}

// -- starting -----------------------------------------------------------------

caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_flags flags,
                                           std::vector<child_spec> specs) {
  if (auto err = check_childspecs(flags, specs)) {
    return err;
  }
  std::shared_ptr<const child_spec> dynamic_template;
  if (flags.strategy == strategy::simple_one_for_one) {
    dynamic_template = std::make_shared<const child_spec>(std::move(specs.front()));
    specs.clear();
  }
  auto name = flags.name;
  // Spawned first so that reports name it; it waits for the init message,
  // the first one in its mailbox since nobody else knows it yet.
  auto sup = sys.spawn<detail::supervisor_actor>(std::move(flags), std::move(dynamic_template));
  if (name.empty()) {
    name = "supervisor#" + std::to_string(sup.id());
  }
  auto st = std::make_shared<detail::init_state>();
  st->children.reserve(specs.size());
  for (auto& spec : specs) {
    detail::child c;
    c.spec = std::make_shared<const child_spec>(std::move(spec));
    auto res = call_start(*c.spec, sys);
    if (!res) {
      auto log = detail::report_logger();
      auto reason = sys.render(res.error());
      if (log && detail::reporting(*log)) {
        detail::report(*log, name, detail::report_context::start_error, reason, c.spec.get(),
                       caf::actor{});
      }
      auto err = make_error(supervisor_errc::failed_to_start_child,
                            "child '" + c.spec->id + "': " + reason);
      st->failure = err;
      caf::anon_send(sup, detail::init_atom::value, std::move(st));
      return err;
    }
    if (!*res) {
      if (c.spec->restart == restart_type::temporary) {
        continue;
      }
      c.state = detail::child_state::stopped;
    } else {
      c.handle = std::move(*res);
      c.state = detail::child_state::running;
    }
    st->children.push_back(std::move(c));
  }
  caf::anon_send(sup, detail::init_atom::value, std::move(st));
  return sup;
}

// -- blocking helpers ---------------------------------------------------------

caf::expected<std::vector<child_info>> which_children(caf::actor_system& sys, const caf::actor& sup,
                                                      std::chrono::milliseconds timeout) {
  return blocking_request<std::vector<child_info>>(sys, sup, timeout, which_children_atom::value);
}

caf::expected<child_counts> count_children(caf::actor_system& sys, const caf::actor& sup,
                                           std::chrono::milliseconds timeout) {
  return blocking_request<child_counts>(sys, sup, timeout, count_children_atom::value);
}

caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      child_spec spec, std::chrono::milliseconds timeout) {
  return blocking_request<caf::actor>(sys, sup, timeout, start_child_atom::value, std::move(spec));
}

caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      caf::message extra_args, std::chrono::milliseconds timeout) {
  return blocking_request<caf::actor>(sys, sup, timeout, start_child_atom::value,
                                      std::move(extra_args));
}

caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                           std::chrono::milliseconds timeout) {
  return blocking_unit_request(sys, sup, timeout, terminate_child_atom::value, id);
}

caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                           std::chrono::milliseconds timeout) {
  return blocking_unit_request(sys, sup, timeout, terminate_child_atom::value, child);
}

caf::expected<caf::actor> restart_child(caf::actor_system& sys, const caf::actor& sup,
                                        const std::string& id, std::chrono::milliseconds timeout) {
  return blocking_request<caf::actor>(sys, sup, timeout, restart_child_atom::value, id);
}

caf::error delete_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                        std::chrono::milliseconds timeout) {
  return blocking_unit_request(sys, sup, timeout, delete_child_atom::value, id);
}

caf::expected<child_spec> get_childspec(caf::actor_system& sys, const caf::actor& sup,
                                        const std::string& id, std::chrono::milliseconds timeout) {
  return blocking_request<child_spec>(sys, sup, timeout, get_childspec_atom::value, id);
}

}  // namespace myelin::supervisors
