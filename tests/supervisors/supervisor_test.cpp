// Tests of OTP supervision (supervisors/src/supervisor.cpp, supervisor_actor.cpp),
// grouped like OTP's supervisor_SUITE and driven by CAF's test coordinator.
#include "myelin/supervisors/supervisor.hpp"

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <caf/all.hpp>
#include <caf/scheduler/test_coordinator.hpp>

using namespace myelin::supervisors;
using namespace std::chrono_literals;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using die_atom = caf::atom_constant<caf::atom("die")>;

/// What the test actors did, in order.
class journal {
 public:
  void add(std::string line) {
    std::lock_guard<std::mutex> guard{mtx_};
    lines_.push_back(std::move(line));
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> guard{mtx_};
    return lines_;
  }
  /// Lines starting with `prefix`, in order.
  std::vector<std::string> with(const std::string& prefix) {
    std::vector<std::string> out;
    for (auto& l : lines()) {
      if (l.rfind(prefix, 0) == 0) {
        out.push_back(l);
      }
    }
    return out;
  }
  size_t count(const std::string& line) {
    auto ls = lines();
    return static_cast<size_t>(std::count(ls.begin(), ls.end(), line));
  }
  void clear() {
    std::lock_guard<std::mutex> guard{mtx_};
    lines_.clear();
  }

 private:
  std::mutex mtx_;
  std::vector<std::string> lines_;
};

std::string reason_name(const caf::error& reason) {
  if (reason == caf::exit_reason::normal) {
    return "normal";
  }
  if (reason == caf::exit_reason::user_shutdown) {
    return "shutdown";
  }
  if (reason == caf::exit_reason::kill) {
    return "kill";
  }
  return "abnormal";
}

/// A child that records its start and stop; with `trap`, it ignores exit
/// messages (so only a kill stops it) and records them.
caf::behavior test_worker(caf::event_based_actor* self, std::shared_ptr<journal> j,
                          std::string name, bool trap) {
  j->add("start:" + name);
  self->attach_functor(
      [j, name](const caf::error& reason) { j->add("stop:" + name + ":" + reason_name(reason)); });
  if (trap) {
    self->set_exit_handler(
        [j, name](caf::exit_msg& msg) { j->add("trap:" + name + ":" + reason_name(msg.reason)); });
  }
  return {
      [](ping_atom) { return pong_atom::value; },
      [self](die_atom, caf::error& reason) { self->quit(std::move(reason)); },
  };
}

start_fn start_worker(std::shared_ptr<journal> j, std::string name, bool trap = false) {
  return [j, name, trap](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    return sys.spawn(test_worker, j, name, trap);
  };
}

/// A dynamic child named by its first start argument.
start_fn start_dynamic_worker(std::shared_ptr<journal> j, bool trap = false) {
  return [j, trap](caf::actor_system& sys, const caf::message& args) -> caf::expected<caf::actor> {
    std::string name = "dyn";
    if (args.match_elements<std::string>()) {
      name = args.get_as<std::string>(0);
    }
    return sys.spawn(test_worker, j, name, trap);
  };
}

start_fn start_ignore() {
  return [](caf::actor_system&, const caf::message&) -> caf::expected<caf::actor> {
    return caf::actor{};
  };
}

start_fn start_error() {
  return [](caf::actor_system&, const caf::message&) -> caf::expected<caf::actor> {
    return caf::make_error(caf::sec::runtime_error, "boom");
  };
}

/// Starts a worker the first `ok` times, then fails.
start_fn start_then_fail(std::shared_ptr<journal> j, std::string name, int ok) {
  auto left = std::make_shared<int>(ok);
  return [j, name, left](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    if (*left <= 0) {
      j->add("fail:" + name);
      return caf::make_error(caf::sec::runtime_error, "cannot start " + name);
    }
    --*left;
    return sys.spawn(test_worker, j, name, false);
  };
}

child_spec with_restart(child_spec spec, restart_type r) {
  spec.restart = r;
  return spec;
}

child_spec with_shutdown(child_spec spec, shutdown_spec s) {
  spec.shutdown = s;
  return spec;
}

child_spec significant(child_spec spec, restart_type r) {
  spec.restart = r;
  spec.significant = true;
  return spec;
}

supervisor_flags flags_of(strategy s, int intensity = 1,
                          std::chrono::milliseconds period = 5000ms) {
  supervisor_flags f;
  f.strategy = s;
  f.intensity = intensity;
  f.period = period;
  return f;
}

/// An actor system on CAF's test coordinator, plus helpers that ask a
/// supervisor through short-lived probe actors (never blocking).
class supervision : public ::testing::Test {
 protected:
  supervision() {
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.file-verbosity", caf::atom("quiet"));
    cfg_.set("logger.console-verbosity", caf::atom("quiet"));
    add_error_category(cfg_);
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    sched_->clock().current_time += std::chrono::hours(1);
    j = std::make_shared<journal>();
    spdlog::drop("supervisor");
    log_ = std::make_shared<std::ostringstream>();
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(*log_);
    spdlog::register_logger(std::make_shared<spdlog::logger>("supervisor", sink));
  }

  ~supervision() override {
    for (auto& a : keep_) {
      caf::anon_send_exit(a, caf::exit_reason::kill);
    }
    keep_.clear();
    run();
    sys_.reset();
    spdlog::drop("supervisor");
  }

  caf::actor_system& sys() { return *sys_; }

  void run() { sched_->run(); }

  /// Fires all pending timers (shutdown timeouts, back-off) and runs.
  void fire_timers() {
    sched_->trigger_timeouts();
    run();
  }

  void advance(std::chrono::milliseconds d) {
    sched_->advance_time(d);
    run();
  }

  caf::actor boot(supervisor_flags f, std::vector<child_spec> specs) {
    auto res = start_supervisor(sys(), std::move(f), std::move(specs));
    if (!res) {
      ADD_FAILURE() << "start_supervisor failed: " << sys().render(res.error());
      return {};
    }
    keep_.push_back(*res);
    run();
    return *res;
  }

  /// Records the exit reason of `a` once it terminates.
  std::shared_ptr<std::optional<caf::error>> watch(const caf::actor& a) {
    auto out = std::make_shared<std::optional<caf::error>>();
    auto w = sys().spawn([a, out](caf::event_based_actor* self) -> caf::behavior {
      self->monitor(a);
      self->set_down_handler([self, out](caf::down_msg& m) {
        *out = m.reason;
        self->quit();
      });
      return {[](int) {}};
    });
    keep_.push_back(w);
    run();
    return out;
  }

  template <class T, class... Ts>
  std::shared_ptr<std::optional<caf::expected<T>>> ask_later(const caf::actor& dest, Ts... xs) {
    auto out = std::make_shared<std::optional<caf::expected<T>>>();
    auto p = sys().spawn([=](caf::event_based_actor* self) {
      if constexpr (std::is_same_v<T, caf::unit_t>) {
        self->request(dest, caf::infinite, xs...)
            .then([out]() { *out = caf::expected<T>{caf::unit}; },
                  [out](caf::error& e) { *out = caf::expected<T>{std::move(e)}; });
      } else {
        self->request(dest, caf::infinite, xs...)
            .then([out](T& x) { *out = caf::expected<T>{std::move(x)}; },
                  [out](caf::error& e) { *out = caf::expected<T>{std::move(e)}; });
      }
    });
    keep_.push_back(p);
    return out;
  }

  template <class T, class... Ts>
  caf::expected<T> ask(const caf::actor& dest, Ts... xs) {
    auto out = ask_later<T>(dest, xs...);
    run();
    if (!out->has_value()) {
      ADD_FAILURE() << "no reply";
      return caf::make_error(caf::sec::request_timeout);
    }
    return std::move(**out);
  }

  std::vector<child_info> children(const caf::actor& sup) {
    auto res = ask<std::vector<child_info>>(sup, which_children_atom::value);
    EXPECT_TRUE(res) << sys().render(res.error());
    return res ? *res : std::vector<child_info>{};
  }

  caf::actor child(const caf::actor& sup, const std::string& id) {
    for (auto& c : children(sup)) {
      if (c.id == id) {
        return c.handle;
      }
    }
    return {};
  }

  child_status status(const caf::actor& sup, const std::string& id) {
    for (auto& c : children(sup)) {
      if (c.id == id) {
        return c.status;
      }
    }
    ADD_FAILURE() << "no child " << id;
    return child_status::undefined;
  }

  child_counts counts(const caf::actor& sup) {
    auto res = ask<child_counts>(sup, count_children_atom::value);
    EXPECT_TRUE(res);
    return res ? *res : child_counts{};
  }

  bool pings(const caf::actor& a) {
    auto res = ask<pong_atom>(a, ping_atom::value);
    return static_cast<bool>(res);
  }

  /// Makes a test worker exit by itself with `reason`.
  void crash(const caf::actor& a, caf::error reason = caf::make_error(caf::sec::runtime_error)) {
    caf::anon_send(a, die_atom::value, std::move(reason));
    run();
  }

  void stop(const caf::actor& sup) {
    caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }

  std::string log() const { return log_->str(); }

  std::shared_ptr<journal> j;

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::vector<caf::actor> keep_;
  std::shared_ptr<std::ostringstream> log_;
};

using start = supervision;
using sup_stop = supervision;
using child_admin = supervision;
using one_for_one = supervision;
using one_for_all = supervision;
using rest_for_one = supervision;
using simple_one_for_one = supervision;
using restart_type_test = supervision;
using significant_children = supervision;
using restarting = supervision;
using count_children_test = supervision;
using nested = supervision;
using remote_proxy = supervision;
using backoff = supervision;
using reports = supervision;
using requests = supervision;

}  // namespace

// -- start ---------------------------------------------------------------------

// Children start in spec order and which_children lists them running in that order.
TEST_F(start, normal) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b"))});
  EXPECT_EQ(j->with("start:"), (std::vector<std::string>{"start:a", "start:b"}));
  auto cs = children(sup);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].id, "a");
  EXPECT_EQ(cs[1].id, "b");
  EXPECT_EQ(cs[0].status, child_status::running);
  EXPECT_TRUE(pings(cs[0].handle));
  stop(sup);
}

// A start function returning "ignore" keeps the spec with no child (undefined).
TEST_F(start, ignore_from_child) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")), worker("ign", start_ignore())});
  auto cs = children(sup);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[1].status, child_status::undefined);
  EXPECT_FALSE(cs[1].handle);
  auto n = counts(sup);
  EXPECT_EQ(n.specs, 2u);
  EXPECT_EQ(n.active, 1u);
  stop(sup);
}

// A supervisor child whose start (its init) returns "ignore" is kept as an undefined supervisor.
TEST_F(start, ignore_from_init) {
  auto sup = boot(flags_of(strategy::one_for_one), {supervisor("sub", start_ignore())});
  auto cs = children(sup);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].status, child_status::undefined);
  EXPECT_EQ(cs[0].type, child_type::supervisor);
  stop(sup);
}

// A temporary child that returns "ignore" is dropped, as in OTP.
TEST_F(start, ignore_temporary_dropped) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {with_restart(worker("t", start_ignore()), restart_type::temporary)});
  EXPECT_TRUE(children(sup).empty());
  stop(sup);
}

// A failing start function fails start_supervisor with failed_to_start_child
// naming the child; the started ones stop in reverse order, later ones never start.
TEST_F(start, error_return) {
  auto res = start_supervisor(sys(), flags_of(strategy::one_for_one),
                              {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b")),
                               worker("bad", start_error()), worker("c", start_worker(j, "c"))});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), supervisor_errc::failed_to_start_child);
  EXPECT_NE(sys().render(res.error()).find("child 'bad'"), std::string::npos);
  run();
  EXPECT_EQ(j->with("stop:"), (std::vector<std::string>{"stop:b:shutdown", "stop:a:shutdown"}));
  EXPECT_EQ(j->count("start:c"), 0u);
  EXPECT_NE(log().find("context=start_error"), std::string::npos);
}

// A start function that throws counts as a failure to start.
TEST_F(start, failure_by_exception) {
  auto res = start_supervisor(
      sys(), flags_of(strategy::one_for_one),
      {worker("x", [](caf::actor_system&, const caf::message&) -> caf::expected<caf::actor> {
        throw std::runtime_error("no");
      })});
  ASSERT_FALSE(res);
  EXPECT_EQ(res.error(), supervisor_errc::failed_to_start_child);
  EXPECT_NE(sys().render(res.error()).find("start threw: no"), std::string::npos);
  run();
}

// Every bad flag and spec is rejected up front with its own error.
TEST_F(start, validation_errors) {
  auto ok = worker("a", start_worker(j, "a"));
  auto check = [&](supervisor_flags f, std::vector<child_spec> specs, supervisor_errc want) {
    EXPECT_EQ(check_childspecs(f, specs), want) << to_string(want);
    auto res = start_supervisor(sys(), f, specs);
    ASSERT_FALSE(res) << to_string(want);
    EXPECT_EQ(res.error(), want) << to_string(want);
  };
  auto f = flags_of(strategy::one_for_one);
  f.intensity = -1;
  check(f, {ok}, supervisor_errc::invalid_intensity);
  f = flags_of(strategy::one_for_one);
  f.period = 0ms;
  check(f, {ok}, supervisor_errc::invalid_period);
  f = flags_of(strategy::one_for_one);
  f.backoff = backoff_spec{};
  f.backoff->min = 0ms;
  check(f, {ok}, supervisor_errc::invalid_backoff);
  f.backoff = backoff_spec{};
  f.backoff->max = 1ms;
  check(f, {ok}, supervisor_errc::invalid_backoff);
  f.backoff = backoff_spec{};
  f.backoff->jitter = 1.5;
  check(f, {ok}, supervisor_errc::invalid_backoff);
  f.backoff = backoff_spec{};
  f.backoff->reset_after = 0ms;
  check(f, {ok}, supervisor_errc::invalid_backoff);
  check(flags_of(strategy::simple_one_for_one), {}, supervisor_errc::invalid_simple_one_for_one);
  check(flags_of(strategy::simple_one_for_one), {ok, worker("b", start_worker(j, "b"))},
        supervisor_errc::invalid_simple_one_for_one);
  check(flags_of(strategy::one_for_one), {worker("", start_worker(j, "x"))},
        supervisor_errc::missing_id);
  check(flags_of(strategy::one_for_one), {worker("a", nullptr)}, supervisor_errc::missing_start);
  check(flags_of(strategy::one_for_one), {ok, ok}, supervisor_errc::duplicate_child_id);
  check(flags_of(strategy::one_for_one), {with_shutdown(ok, shutdown_spec::after(-1ms))},
        supervisor_errc::invalid_shutdown);
  f = flags_of(strategy::one_for_one);
  f.auto_shutdown = auto_shutdown::any_significant;
  check(f, {significant(ok, restart_type::permanent)}, supervisor_errc::invalid_significant);
  check(flags_of(strategy::one_for_one), {significant(ok, restart_type::transient)},
        supervisor_errc::invalid_significant);
  EXPECT_TRUE(j->lines().empty());  // nothing was started
}

// Valid flags and specs pass check_childspecs; the defaults are OTP's.
TEST_F(start, defaults_and_valid_specs) {
  supervisor_flags f;
  EXPECT_EQ(f.strategy, strategy::one_for_one);
  EXPECT_EQ(f.intensity, 1);
  EXPECT_EQ(f.period, 5000ms);
  EXPECT_EQ(f.auto_shutdown, auto_shutdown::never);
  auto w = worker("w", start_worker(j, "w"));
  auto s = supervisor("s", start_worker(j, "s"));
  EXPECT_EQ(w.restart, restart_type::permanent);
  EXPECT_EQ(effective_shutdown(w).how, shutdown_spec::kind::timeout);
  EXPECT_EQ(effective_shutdown(w).timeout, 5000ms);
  EXPECT_EQ(effective_shutdown(s).how, shutdown_spec::kind::infinity);
  EXPECT_FALSE(check_childspecs(f, {w, s}));
}

// Errors render through the registered category with their context.
TEST_F(start, error_rendering) {
  EXPECT_EQ(to_string(supervisor_errc::not_found), "not_found");
  auto text = sys().render(make_error(supervisor_errc::not_found, "child 'x'"));
  EXPECT_EQ(text, "supervisor: not_found (child 'x')");
  caf::error e = supervisor_errc::running;
  EXPECT_EQ(e, supervisor_errc::running);
}

// -- stop ----------------------------------------------------------------------

// Children stop in reverse start order with user_shutdown; the supervisor exits user_shutdown.
TEST_F(sup_stop, reverse_start_order) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b")),
                   worker("c", start_worker(j, "c"))});
  auto down = watch(sup);
  stop(sup);
  EXPECT_EQ(j->with("stop:"),
            (std::vector<std::string>{"stop:c:shutdown", "stop:b:shutdown", "stop:a:shutdown"}));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// shutdown infinity: the supervisor waits however long the child takes.
TEST_F(sup_stop, infinity) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {with_shutdown(worker("a", start_worker(j, "a", true)), shutdown_spec::infinity())});
  auto a = child(sup, "a");
  auto down = watch(sup);
  stop(sup);
  fire_timers();
  advance(std::chrono::hours(24));
  EXPECT_EQ(j->count("trap:a:shutdown"), 1u);
  EXPECT_FALSE(down->has_value());
  caf::anon_send_exit(a, caf::exit_reason::kill);  // the child finally goes
  run();
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// shutdown timeout: user_shutdown first, kill once the timeout passes.
TEST_F(sup_stop, timeout_then_kill) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {with_shutdown(worker("a", start_worker(j, "a", true)), shutdown_spec::after(1000ms))});
  auto down = watch(sup);
  stop(sup);
  EXPECT_EQ(j->count("trap:a:shutdown"), 1u);
  advance(999ms);
  EXPECT_FALSE(down->has_value());
  EXPECT_EQ(j->count("stop:a:kill"), 0u);
  advance(1ms);
  EXPECT_EQ(j->count("stop:a:kill"), 1u);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
  EXPECT_NE(log().find("context=shutdown_error"), std::string::npos);
}

// shutdown brutal_kill: killed at once, without an exit message to trap first.
TEST_F(sup_stop, brutal_kill) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {with_shutdown(worker("a", start_worker(j, "a", true)), shutdown_spec::brutal_kill())});
  auto down = watch(sup);
  stop(sup);
  EXPECT_EQ(j->count("trap:a:shutdown"), 0u);
  EXPECT_EQ(j->count("stop:a:kill"), 1u);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// Dynamic children are stopped in parallel: all get user_shutdown before any timeout.
TEST_F(sup_stop, dynamic_children_parallel) {
  auto sup = boot(
      flags_of(strategy::simple_one_for_one),
      {with_shutdown(worker("d", start_dynamic_worker(j, true)), shutdown_spec::after(1000ms))});
  for (auto name : {"x", "y", "z"}) {
    ASSERT_TRUE(
        ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{name})));
  }
  auto down = watch(sup);
  stop(sup);
  EXPECT_EQ(j->with("trap:").size(), 3u);
  EXPECT_FALSE(down->has_value());
  advance(1000ms);
  EXPECT_EQ(j->with("stop:").size(), 3u);
  ASSERT_TRUE(down->has_value());
}

// Killing the supervisor takes its children down with it (the half link).
TEST_F(sup_stop, killed_supervisor_kills_children) {
  auto sup = boot(flags_of(strategy::one_for_one), {worker("a", start_worker(j, "a"))});
  auto a = child(sup, "a");  // held here too, so only the exit can stop it
  caf::anon_send_exit(sup, caf::exit_reason::kill);
  run();
  EXPECT_EQ(j->count("stop:a:kill"), 1u);
}

// An exit message from a non-child (e.g. the parent) stops the children, then the
// supervisor exits with that reason.
TEST_F(sup_stop, exit_from_non_child_terminates) {
  auto sup = boot(flags_of(strategy::one_for_one), {worker("a", start_worker(j, "a"))});
  auto down = watch(sup);
  caf::anon_send(sup, caf::exit_msg{caf::actor_addr{}, caf::make_error(caf::sec::runtime_error)});
  run();
  EXPECT_EQ(j->count("stop:a:shutdown"), 1u);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::sec::runtime_error);
}

// -- child administration --------------------------------------------------------

// start_child: a handle; already_started; already_present; ignore; start_failed; validation.
TEST_F(child_admin, start_child_returns) {
  auto sup = boot(flags_of(strategy::one_for_one), {});
  auto a = ask<caf::actor>(sup, start_child_atom::value, worker("a", start_worker(j, "a")));
  ASSERT_TRUE(a);
  EXPECT_TRUE(pings(*a));
  auto again = ask<caf::actor>(sup, start_child_atom::value, worker("a", start_worker(j, "a")));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), supervisor_errc::already_started);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  auto present = ask<caf::actor>(sup, start_child_atom::value, worker("a", start_worker(j, "a")));
  ASSERT_FALSE(present);
  EXPECT_EQ(present.error(), supervisor_errc::already_present);
  auto ign = ask<caf::actor>(sup, start_child_atom::value, worker("i", start_ignore()));
  ASSERT_TRUE(ign);
  EXPECT_FALSE(*ign);
  EXPECT_EQ(status(sup, "i"), child_status::undefined);
  auto bad = ask<caf::actor>(sup, start_child_atom::value, worker("bad", start_error()));
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), supervisor_errc::start_failed);
  auto invalid = ask<caf::actor>(sup, start_child_atom::value, worker("", start_error()));
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error(), supervisor_errc::missing_id);
  auto dyn = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(1));
  ASSERT_FALSE(dyn);
  EXPECT_EQ(dyn.error(), supervisor_errc::simple_one_for_one);
  // Started children come last in start order.
  auto cs = children(sup);
  ASSERT_EQ(cs.size(), 2u);
  EXPECT_EQ(cs[0].id, "a");
  EXPECT_EQ(cs[1].id, "i");
  stop(sup);
}

// terminate_child: unit (spec kept, or dropped if temporary), not_found, by handle.
TEST_F(child_admin, terminate_child_returns) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")),
                   with_restart(worker("t", start_worker(j, "t")), restart_type::temporary),
                   worker("h", start_worker(j, "h"))});
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  EXPECT_EQ(j->count("stop:a:shutdown"), 1u);
  EXPECT_EQ(status(sup, "a"), child_status::undefined);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));  // again: ok
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"t"}));
  auto nf = ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"t"});
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error(), supervisor_errc::not_found);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, child(sup, "h")));
  EXPECT_EQ(j->count("stop:h:shutdown"), 1u);
  auto stray = sys().spawn(test_worker, j, std::string{"stray"}, false);
  auto nf2 = ask<caf::unit_t>(sup, terminate_child_atom::value, stray);
  ASSERT_FALSE(nf2);
  EXPECT_EQ(nf2.error(), supervisor_errc::not_found);
  caf::anon_send_exit(stray, caf::exit_reason::kill);
  EXPECT_EQ(counts(sup).specs, 2u);
  // Termination by the supervisor is not a crash: nothing was restarted.
  EXPECT_EQ(j->count("start:a"), 1u);
  stop(sup);
}

// restart_child: a new handle for a stopped child; running; not_found; start_failed.
TEST_F(child_admin, restart_child_returns) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")), worker("b", start_then_fail(j, "b", 1))});
  auto running = ask<caf::actor>(sup, restart_child_atom::value, std::string{"a"});
  ASSERT_FALSE(running);
  EXPECT_EQ(running.error(), supervisor_errc::running);
  auto nf = ask<caf::actor>(sup, restart_child_atom::value, std::string{"zz"});
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error(), supervisor_errc::not_found);
  auto old = child(sup, "a");
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  auto fresh = ask<caf::actor>(sup, restart_child_atom::value, std::string{"a"});
  ASSERT_TRUE(fresh);
  EXPECT_NE(*fresh, old);
  EXPECT_EQ(child(sup, "a"), *fresh);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"b"}));
  auto failed = ask<caf::actor>(sup, restart_child_atom::value, std::string{"b"});
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error(), supervisor_errc::start_failed);
  EXPECT_EQ(status(sup, "b"), child_status::undefined);
  stop(sup);
}

// delete_child: running; not_found; unit for a stopped child, whose spec is then gone.
TEST_F(child_admin, delete_child_returns) {
  auto sup = boot(flags_of(strategy::one_for_one), {worker("a", start_worker(j, "a"))});
  auto running = ask<caf::unit_t>(sup, delete_child_atom::value, std::string{"a"});
  ASSERT_FALSE(running);
  EXPECT_EQ(running.error(), supervisor_errc::running);
  auto nf = ask<caf::unit_t>(sup, delete_child_atom::value, std::string{"zz"});
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error(), supervisor_errc::not_found);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  ASSERT_TRUE(ask<caf::unit_t>(sup, delete_child_atom::value, std::string{"a"}));
  auto gone = ask<child_spec>(sup, get_childspec_atom::value, std::string{"a"});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error(), supervisor_errc::not_found);
  EXPECT_EQ(counts(sup).specs, 0u);
  stop(sup);
}

// get_childspec: the spec as given (with its settings); not_found.
TEST_F(child_admin, get_childspec_returns) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {with_shutdown(with_restart(worker("a", start_worker(j, "a")), restart_type::transient),
                          shutdown_spec::brutal_kill())});
  auto spec = ask<child_spec>(sup, get_childspec_atom::value, std::string{"a"});
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->id, "a");
  EXPECT_EQ(spec->restart, restart_type::transient);
  ASSERT_TRUE(spec->shutdown);
  EXPECT_EQ(spec->shutdown->how, shutdown_spec::kind::brutal_kill);
  auto by_handle = ask<child_spec>(sup, get_childspec_atom::value, child(sup, "a"));
  ASSERT_TRUE(by_handle);
  EXPECT_EQ(by_handle->id, "a");
  auto nf = ask<child_spec>(sup, get_childspec_atom::value, std::string{"b"});
  ASSERT_FALSE(nf);
  EXPECT_EQ(nf.error(), supervisor_errc::not_found);
  stop(sup);
}

// Under simple_one_for_one, id-based administration answers simple_one_for_one;
// start_child with a spec too; terminate_child by handle works.
TEST_F(child_admin, simple_one_for_one_errors) {
  auto sup = boot(flags_of(strategy::simple_one_for_one), {worker("d", start_dynamic_worker(j))});
  auto expect_sofo = [](auto res) {
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error(), supervisor_errc::simple_one_for_one);
  };
  expect_sofo(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"d"}));
  expect_sofo(ask<caf::actor>(sup, restart_child_atom::value, std::string{"d"}));
  expect_sofo(ask<caf::unit_t>(sup, delete_child_atom::value, std::string{"d"}));
  expect_sofo(ask<caf::actor>(sup, start_child_atom::value, worker("e", start_worker(j, "e"))));
  auto spec = ask<child_spec>(sup, get_childspec_atom::value, std::string{"d"});
  ASSERT_TRUE(spec);
  auto x = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"x"}));
  ASSERT_TRUE(x);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, *x));
  EXPECT_EQ(j->count("stop:x:shutdown"), 1u);
  EXPECT_EQ(counts(sup).workers, 0u);
  stop(sup);
}

// restart_child / delete_child of a child waiting for its restart answer restarting.
TEST_F(child_admin, restarting_child_returns) {
  auto f = flags_of(strategy::one_for_one, 10);
  f.backoff = backoff_spec{1000ms, 1000ms, 0.0, 30'000ms};
  auto sup = boot(f, {worker("a", start_worker(j, "a"))});
  crash(child(sup, "a"));
  EXPECT_EQ(status(sup, "a"), child_status::restarting);
  auto r = ask<caf::actor>(sup, restart_child_atom::value, std::string{"a"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), supervisor_errc::restarting);
  auto d = ask<caf::unit_t>(sup, delete_child_atom::value, std::string{"a"});
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error(), supervisor_errc::restarting);
  // terminate_child cancels the pending restart.
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  fire_timers();
  EXPECT_EQ(status(sup, "a"), child_status::undefined);
  EXPECT_EQ(j->count("start:a"), 1u);
  stop(sup);
}

// Requests arriving while the supervisor stops a child are answered afterwards, in order.
TEST_F(requests, answered_after_stop) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {with_shutdown(worker("a", start_worker(j, "a", true)), shutdown_spec::after(1000ms)),
            worker("b", start_worker(j, "b"))});
  auto term = ask_later<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"});
  auto which = ask_later<std::vector<child_info>>(sup, which_children_atom::value);
  auto del = ask_later<caf::unit_t>(sup, delete_child_atom::value, std::string{"a"});
  run();
  EXPECT_FALSE(term->has_value());
  EXPECT_FALSE(which->has_value());
  EXPECT_FALSE(del->has_value());
  advance(1000ms);
  ASSERT_TRUE(term->has_value());
  EXPECT_TRUE(**term);
  ASSERT_TRUE(which->has_value());
  ASSERT_TRUE(**which);
  EXPECT_EQ((***which)[0].status, child_status::undefined);
  ASSERT_TRUE(del->has_value());
  EXPECT_TRUE(**del);  // saw the stopped child, so deleting succeeded
  stop(sup);
}

// Requests still queued when the supervisor exits get request_receiver_down, not silence.
TEST_F(requests, queued_at_exit_are_answered) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {with_shutdown(worker("a", start_worker(j, "a", true)), shutdown_spec::after(1000ms))});
  caf::anon_send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  auto which = ask_later<std::vector<child_info>>(sup, which_children_atom::value);
  run();
  EXPECT_FALSE(which->has_value());
  advance(1000ms);
  ASSERT_TRUE(which->has_value());
  ASSERT_FALSE(**which);
  EXPECT_EQ((*which)->error(), caf::sec::request_receiver_down);
}

// -- strategies ------------------------------------------------------------------

// one_for_one restarts only the child that died.
TEST_F(one_for_one, restart_only_failed) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b"))});
  auto a = child(sup, "a");
  auto b = child(sup, "b");
  crash(a);
  EXPECT_EQ(j->count("start:a"), 2u);
  EXPECT_EQ(child(sup, "b"), b);
  auto a2 = child(sup, "a");
  EXPECT_NE(a2, a);
  EXPECT_TRUE(pings(a2));
  EXPECT_NE(log().find("context=child_terminated"), std::string::npos);
  stop(sup);
}

// A child killed with exit_reason::kill is restarted; the kill does not reach the supervisor.
TEST_F(one_for_one, killed_child_restarted) {
  auto sup = boot(flags_of(strategy::one_for_one), {worker("a", start_worker(j, "a"))});
  auto down = watch(sup);
  crash(child(sup, "a"), caf::exit_reason::kill);
  EXPECT_FALSE(down->has_value());
  EXPECT_EQ(j->count("start:a"), 2u);
  stop(sup);
}

// More than intensity restarts within the period: children stop, supervisor exits user_shutdown.
TEST_F(one_for_one, escalation) {
  auto sup = boot(flags_of(strategy::one_for_one, 1),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b"))});
  auto down = watch(sup);
  crash(child(sup, "a"));
  EXPECT_FALSE(down->has_value());
  crash(child(sup, "a"));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
  EXPECT_EQ(j->count("stop:b:shutdown"), 1u);
  EXPECT_NE(log().find("reached_max_restart_intensity"), std::string::npos);
}

// Restarts further apart than the period never add up to an escalation.
TEST_F(one_for_one, intensity_window_slides) {
  auto sup = boot(flags_of(strategy::one_for_one, 1, 1000ms), {worker("a", start_worker(j, "a"))});
  auto down = watch(sup);
  for (int i = 0; i < 5; ++i) {
    crash(child(sup, "a"));
    advance(1001ms);
  }
  EXPECT_FALSE(down->has_value());
  EXPECT_EQ(j->count("start:a"), 6u);
  stop(sup);
}

// one_for_all stops the others in reverse start order, then restarts all in start order.
TEST_F(one_for_all, restart_all_in_order) {
  auto sup = boot(flags_of(strategy::one_for_all),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b")),
                   worker("c", start_worker(j, "c"))});
  j->clear();
  crash(child(sup, "b"));
  EXPECT_EQ(j->lines(),
            (std::vector<std::string>{"stop:b:abnormal", "stop:c:shutdown", "stop:a:shutdown",
                                      "start:a", "start:b", "start:c"}));
  for (auto& c : children(sup)) {
    EXPECT_EQ(c.status, child_status::running);
  }
  stop(sup);
}

// one_for_all escalates like the others, and a temporary bystander is not restarted.
TEST_F(one_for_all, escalation_and_temporary_bystander) {
  auto sup = boot(flags_of(strategy::one_for_all, 1),
                  {worker("a", start_worker(j, "a")),
                   with_restart(worker("t", start_worker(j, "t")), restart_type::temporary)});
  auto down = watch(sup);
  crash(child(sup, "a"));
  EXPECT_EQ(j->count("stop:t:shutdown"), 1u);
  EXPECT_EQ(j->count("start:t"), 1u);
  EXPECT_EQ(children(sup).size(), 1u);  // the temporary spec is gone
  crash(child(sup, "a"));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// A group restart also starts children that were stopped (OTP's start_children).
TEST_F(one_for_all, restarts_stopped_children) {
  auto sup = boot(flags_of(strategy::one_for_all, 5),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b"))});
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"b"}));
  crash(child(sup, "a"));
  EXPECT_EQ(status(sup, "b"), child_status::running);
  stop(sup);
}

// rest_for_one restarts the failed child and those started after it, not before.
TEST_F(rest_for_one, restart_rest) {
  auto sup = boot(flags_of(strategy::rest_for_one),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b")),
                   worker("c", start_worker(j, "c"))});
  auto a = child(sup, "a");
  j->clear();
  crash(child(sup, "b"));
  EXPECT_EQ(j->lines(),
            (std::vector<std::string>{"stop:b:abnormal", "stop:c:shutdown", "start:b", "start:c"}));
  EXPECT_EQ(child(sup, "a"), a);
  stop(sup);
}

// rest_for_one escalates after intensity restarts.
TEST_F(rest_for_one, escalation) {
  auto sup = boot(flags_of(strategy::rest_for_one, 0),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b"))});
  auto down = watch(sup);
  crash(child(sup, "b"));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(j->count("stop:a:shutdown"), 1u);
}

// A dynamic child is restarted with its original start arguments.
TEST_F(simple_one_for_one, restart_with_args) {
  auto sup = boot(flags_of(strategy::simple_one_for_one), {worker("d", start_dynamic_worker(j))});
  auto x = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"x"}));
  ASSERT_TRUE(x);
  crash(*x);
  EXPECT_EQ(j->count("start:x"), 2u);
  auto cs = children(sup);
  ASSERT_EQ(cs.size(), 1u);
  EXPECT_EQ(cs[0].id, "");
  EXPECT_EQ(cs[0].status, child_status::running);
  stop(sup);
}

// simple_one_for_one escalates too; a transient dynamic child exiting normally is forgotten.
TEST_F(simple_one_for_one, escalation_and_transient) {
  auto sup = boot(flags_of(strategy::simple_one_for_one, 1),
                  {with_restart(worker("d", start_dynamic_worker(j)), restart_type::transient)});
  auto down = watch(sup);
  auto x = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"x"}));
  auto y = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"y"}));
  crash(*x, caf::exit_reason::normal);
  EXPECT_EQ(counts(sup).workers, 1u);
  crash(*y);
  crash(child(sup, ""));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// Thousands of dynamic children start, are counted, and all stop with the supervisor.
TEST_F(simple_one_for_one, thousands_of_children) {
  auto sup = boot(flags_of(strategy::simple_one_for_one), {worker("d", start_dynamic_worker(j))});
  constexpr size_t n = 3000;
  std::vector<std::shared_ptr<std::optional<caf::expected<caf::actor>>>> replies;
  for (size_t i = 0; i < n; ++i) {
    replies.push_back(
        ask_later<caf::actor>(sup, start_child_atom::value, caf::make_message(std::to_string(i))));
  }
  run();
  for (auto& r : replies) {
    ASSERT_TRUE(r->has_value() && **r);
  }
  auto n2 = counts(sup);
  EXPECT_EQ(n2.specs, 1u);
  EXPECT_EQ(n2.active, n);
  EXPECT_EQ(n2.workers, n);
  crash(***replies[17]);
  EXPECT_EQ(counts(sup).active, n);
  auto down = watch(sup);
  stop(sup);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(j->with("stop:").size(), n + 1);
}

// -- restart types -----------------------------------------------------------------

// permanent always restarts; transient only after abnormal exits; temporary never
// (and its spec goes), for exits normal, shutdown and abnormal.
TEST_F(restart_type_test, by_exit_reason) {
  struct row {
    restart_type type;
    caf::error reason;
    bool restarted;
  };
  std::vector<row> rows{
      {restart_type::permanent, caf::exit_reason::normal, true},
      {restart_type::permanent, caf::exit_reason::user_shutdown, true},
      {restart_type::permanent, caf::make_error(caf::sec::runtime_error), true},
      {restart_type::transient, caf::exit_reason::normal, false},
      {restart_type::transient, caf::exit_reason::user_shutdown, false},
      {restart_type::transient, caf::make_error(caf::sec::runtime_error), true},
      {restart_type::temporary, caf::exit_reason::normal, false},
      {restart_type::temporary, caf::exit_reason::user_shutdown, false},
      {restart_type::temporary, caf::make_error(caf::sec::runtime_error), false},
  };
  for (auto& r : rows) {
    j->clear();
    auto sup = boot(flags_of(strategy::one_for_one, 10),
                    {with_restart(worker("w", start_worker(j, "w")), r.type)});
    crash(child(sup, "w"), r.reason);
    auto cs = children(sup);
    auto where = std::to_string(static_cast<int>(r.type)) + "/" + reason_name(r.reason);
    EXPECT_EQ(j->count("start:w"), r.restarted ? 2u : 1u) << where;
    if (r.type == restart_type::temporary) {
      EXPECT_TRUE(cs.empty()) << where;
    } else {
      ASSERT_EQ(cs.size(), 1u) << where;
      EXPECT_EQ(cs[0].status, r.restarted ? child_status::running : child_status::undefined)
          << where;
    }
    stop(sup);
  }
}

// -- significant children -------------------------------------------------------

// any_significant: a significant transient child exiting normally shuts the supervisor down.
TEST_F(significant_children, any_significant_normal_exit) {
  auto f = flags_of(strategy::one_for_one);
  f.auto_shutdown = auto_shutdown::any_significant;
  auto sup = boot(f, {significant(worker("s", start_worker(j, "s")), restart_type::transient),
                      worker("w", start_worker(j, "w"))});
  auto down = watch(sup);
  crash(child(sup, "s"), caf::exit_reason::normal);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
  EXPECT_EQ(j->count("stop:w:shutdown"), 1u);
}

// A significant transient child exiting abnormally is restarted instead.
TEST_F(significant_children, abnormal_exit_restarts) {
  auto f = flags_of(strategy::one_for_one);
  f.auto_shutdown = auto_shutdown::any_significant;
  auto sup = boot(f, {significant(worker("s", start_worker(j, "s")), restart_type::transient)});
  auto down = watch(sup);
  crash(child(sup, "s"));
  EXPECT_FALSE(down->has_value());
  EXPECT_EQ(j->count("start:s"), 2u);
  stop(sup);
}

// all_significant: only once every significant child has exited by itself.
TEST_F(significant_children, all_significant) {
  auto f = flags_of(strategy::one_for_one);
  f.auto_shutdown = auto_shutdown::all_significant;
  auto sup = boot(f, {significant(worker("s1", start_worker(j, "s1")), restart_type::temporary),
                      significant(worker("s2", start_worker(j, "s2")), restart_type::transient),
                      worker("w", start_worker(j, "w"))});
  auto down = watch(sup);
  crash(child(sup, "s1"));
  EXPECT_FALSE(down->has_value());
  crash(child(sup, "s2"), caf::exit_reason::user_shutdown);
  ASSERT_TRUE(down->has_value());
}

// Termination by the supervisor itself (terminate_child) never triggers auto_shutdown.
TEST_F(significant_children, terminate_child_does_not_trigger) {
  auto f = flags_of(strategy::one_for_one);
  f.auto_shutdown = auto_shutdown::any_significant;
  auto sup = boot(f, {significant(worker("s", start_worker(j, "s")), restart_type::transient)});
  auto down = watch(sup);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"s"}));
  EXPECT_FALSE(down->has_value());
  stop(sup);
}

// A significant bystander stopped by a group restart does not trigger auto_shutdown.
TEST_F(significant_children, bystander) {
  auto f = flags_of(strategy::one_for_all, 5);
  f.auto_shutdown = auto_shutdown::any_significant;
  auto sup = boot(f, {worker("a", start_worker(j, "a")),
                      significant(worker("s", start_worker(j, "s")), restart_type::transient)});
  auto down = watch(sup);
  crash(child(sup, "a"));
  EXPECT_FALSE(down->has_value());
  EXPECT_EQ(j->count("start:s"), 2u);
  stop(sup);
}

// Auto-shutdown escalates: a child supervisor that shuts itself down is a significant
// transient child of its parent, which then shuts down too.
TEST_F(significant_children, escalation_through_tree) {
  auto inner_flags = flags_of(strategy::one_for_one);
  inner_flags.auto_shutdown = auto_shutdown::any_significant;
  auto jj = j;
  auto inner = [inner_flags, jj](caf::actor_system& s, const caf::message&) {
    return start_supervisor(
        s, inner_flags, {significant(worker("s", start_worker(jj, "s")), restart_type::transient)});
  };
  auto outer_flags = flags_of(strategy::one_for_one);
  outer_flags.auto_shutdown = auto_shutdown::any_significant;
  auto sup = boot(outer_flags, {significant(supervisor("inner", inner), restart_type::transient),
                                worker("w", start_worker(j, "w"))});
  auto down = watch(sup);
  auto inner_sup = child(sup, "inner");
  auto s = child(inner_sup, "s");
  crash(s, caf::exit_reason::normal);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
  EXPECT_EQ(j->count("stop:w:shutdown"), 1u);
}

// -- restarting -------------------------------------------------------------------

// A child that can never restart shows `restarting`, and the supervisor still shuts down.
TEST_F(restarting, never_restarting_child_and_shutdown) {
  auto f = flags_of(strategy::one_for_one, 100);
  f.backoff = backoff_spec{100ms, 100ms, 0.0, 30'000ms};
  auto sup = boot(f, {worker("a", start_then_fail(j, "a", 1)), worker("b", start_worker(j, "b"))});
  auto down = watch(sup);
  crash(child(sup, "a"));
  fire_timers();  // the restart fails
  fire_timers();  // and its retry
  EXPECT_EQ(j->count("fail:a"), 2u);
  EXPECT_EQ(status(sup, "a"), child_status::restarting);
  auto n = counts(sup);
  EXPECT_EQ(n.active, 1u);
  EXPECT_EQ(n.specs, 2u);
  stop(sup);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
  EXPECT_EQ(j->count("stop:b:shutdown"), 1u);
}

// Failed restarts count toward intensity: retries end in escalation.
TEST_F(restarting, failed_restarts_count_toward_intensity) {
  auto sup = boot(flags_of(strategy::one_for_one, 3), {worker("a", start_then_fail(j, "a", 1))});
  auto down = watch(sup);
  crash(child(sup, "a"));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(j->count("fail:a"), 3u);  // restarts 1..3 fail, the 4th exceeds intensity 3
}

// which_children counts each child's restarts (group restarts included) and
// reports the uptime of its current incarnation; a child not running has none.
TEST_F(restarting, restarts_and_uptime_reported) {
  auto sup = boot(flags_of(strategy::rest_for_one, 10),
                  {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b")),
                   worker("c", start_worker(j, "c"))});
  advance(1500ms);
  crash(child(sup, "c"));
  crash(child(sup, "c"));
  advance(200ms);
  crash(child(sup, "b"));  // restarts b and, behind it, c
  advance(30ms);
  auto rows = children(sup);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].restarts, 0u);
  EXPECT_EQ(rows[0].uptime_ms, 1730);
  EXPECT_EQ(rows[1].restarts, 1u);
  EXPECT_EQ(rows[1].uptime_ms, 30);
  EXPECT_EQ(rows[2].restarts, 3u);
  EXPECT_EQ(rows[2].uptime_ms, 30);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  rows = children(sup);
  EXPECT_EQ(rows[0].status, child_status::undefined);
  EXPECT_EQ(rows[0].uptime_ms, 0);
}

// A restart that fails once is retried (via a message to itself) and then succeeds.
TEST_F(restarting, retry_succeeds) {
  auto sup = boot(flags_of(strategy::one_for_one, 5), {});
  // Starts the first time, fails the second (the first restart), then works.
  auto c_spec = worker("c",
                       [j = j, n = std::make_shared<int>(0)](
                           caf::actor_system& s, const caf::message&) -> caf::expected<caf::actor> {
                         if (++*n == 2) {
                           j->add("fail:c");
                           return caf::make_error(caf::sec::runtime_error, "once");
                         }
                         return s.spawn(test_worker, j, std::string{"c"}, false);
                       });
  ASSERT_TRUE(ask<caf::actor>(sup, start_child_atom::value, c_spec));
  crash(child(sup, "c"));
  EXPECT_EQ(j->count("fail:c"), 1u);
  EXPECT_EQ(j->count("start:c"), 2u);
  EXPECT_EQ(status(sup, "c"), child_status::running);
  stop(sup);
}

// A failed restart in a group leaves later children stopped; the retry restarts the group.
TEST_F(restarting, group_restart_retry) {
  auto n = std::make_shared<int>(0);
  auto flaky = [j = j, n](caf::actor_system& s, const caf::message&) -> caf::expected<caf::actor> {
    if (++*n == 2) {
      j->add("fail:b");
      return caf::make_error(caf::sec::runtime_error, "once");
    }
    return s.spawn(test_worker, j, std::string{"b"}, false);
  };
  auto sup = boot(
      flags_of(strategy::one_for_all, 5),
      {worker("a", start_worker(j, "a")), worker("b", flaky), worker("c", start_worker(j, "c"))});
  crash(child(sup, "a"));
  EXPECT_EQ(j->count("fail:b"), 1u);
  for (auto& c : children(sup)) {
    EXPECT_EQ(c.status, child_status::running) << c.id;
  }
  EXPECT_EQ(j->count("start:c"), 2u);  // started once, and once by the retry
  stop(sup);
}

// -- count_children ------------------------------------------------------------------

// count_children counts specs, running children, and specs per type.
TEST_F(count_children_test, mixed) {
  auto sub = [jj = j](caf::actor_system& s, const caf::message&) {
    return start_supervisor(s, flags_of(strategy::one_for_one),
                            {worker("x", start_worker(jj, "x"))});
  };
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {worker("a", start_worker(j, "a")), worker("i", start_ignore()), supervisor("s", sub)});
  auto n = counts(sup);
  EXPECT_EQ(n.specs, 3u);
  EXPECT_EQ(n.active, 2u);
  EXPECT_EQ(n.supervisors, 1u);
  EXPECT_EQ(n.workers, 2u);
  stop(sup);
  EXPECT_EQ(j->count("stop:x:shutdown"), 1u);
}

// -- nested supervisors ---------------------------------------------------------------

// A tree starts depth-first and stops leaves before their supervisors, in reverse order.
TEST_F(nested, tree_starts_and_stops_in_order) {
  auto jj = j;
  auto sub = [jj](caf::actor_system& s, const caf::message&) {
    return start_supervisor(
        s, flags_of(strategy::one_for_one),
        {worker("x", start_worker(jj, "x")), worker("y", start_worker(jj, "y"))});
  };
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("a", start_worker(j, "a")), supervisor("sub", sub),
                   worker("b", start_worker(j, "b"))});
  EXPECT_EQ(j->with("start:"),
            (std::vector<std::string>{"start:a", "start:x", "start:y", "start:b"}));
  stop(sup);
  EXPECT_EQ(j->with("stop:"), (std::vector<std::string>{"stop:b:shutdown", "stop:y:shutdown",
                                                        "stop:x:shutdown", "stop:a:shutdown"}));
}

// A child supervisor that exceeds its intensity exits user_shutdown and its parent restarts it.
TEST_F(nested, escalation_restarts_subtree) {
  auto jj = j;
  auto sub = [jj](caf::actor_system& s, const caf::message&) {
    return start_supervisor(s, flags_of(strategy::one_for_one, 0),
                            {worker("x", start_worker(jj, "x"))});
  };
  auto sup = boot(flags_of(strategy::one_for_one, 3), {supervisor("sub", sub)});
  auto old_sub = child(sup, "sub");
  crash(child(old_sub, "x"));
  auto new_sub = child(sup, "sub");
  EXPECT_NE(new_sub, old_sub);
  EXPECT_EQ(j->count("start:x"), 2u);
  EXPECT_TRUE(child(new_sub, "x"));
  stop(sup);
}

// -- remote proxies ------------------------------------------------------------------

// A child that goes away with remote_link_unreachable (a lost peer) exited abnormally:
// a transient child is restarted.
TEST_F(remote_proxy, lost_peer_is_abnormal) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {with_restart(worker("r", start_worker(j, "r")), restart_type::transient)});
  crash(child(sup, "r"), caf::exit_reason::remote_link_unreachable);
  EXPECT_EQ(j->count("start:r"), 2u);
  EXPECT_EQ(status(sup, "r"), child_status::running);
  EXPECT_NE(log().find("child_terminated"), std::string::npos);
  stop(sup);
}

// -- back-off ---------------------------------------------------------------------------

// Restarts wait min * 2^n (no jitter), and n resets after a quiet period.
TEST_F(backoff, exponential_and_reset) {
  auto f = flags_of(strategy::one_for_one, 100, 100'000ms);
  f.backoff = backoff_spec{100ms, 400ms, 0.0, 10'000ms};
  auto sup = boot(f, {worker("a", start_worker(j, "a"))});
  auto wait_restart = [&](std::chrono::milliseconds expected) {
    crash(child(sup, "a"));
    EXPECT_EQ(status(sup, "a"), child_status::restarting);
    advance(expected - 1ms);
    EXPECT_EQ(status(sup, "a"), child_status::restarting) << expected.count();
    advance(1ms);
    EXPECT_EQ(status(sup, "a"), child_status::running) << expected.count();
  };
  wait_restart(100ms);
  wait_restart(200ms);
  wait_restart(400ms);
  wait_restart(400ms);  // capped at max
  advance(10'000ms);
  wait_restart(100ms);  // reset after the quiet period
  stop(sup);
}

// -- reports ------------------------------------------------------------------------------

// Reports are structured: supervisor name, context, reason and offender.
TEST_F(reports, structured_fields) {
  auto f = flags_of(strategy::one_for_one);
  f.name = "my_sup";
  auto sup = boot(f, {worker("a", start_worker(j, "a"))});
  crash(child(sup, "a"));
  auto text = log();
  EXPECT_NE(text.find("supervisor=my_sup"), std::string::npos) << text;
  EXPECT_NE(text.find("context=child_terminated"), std::string::npos) << text;
  EXPECT_NE(text.find("offender=[id=a"), std::string::npos) << text;
  EXPECT_NE(text.find("restart=permanent"), std::string::npos) << text;
  stop(sup);
}

// -- review: intensity boundary, group-restart failures, reports -------------------

// A restart exactly `period` after the previous one is still within the period
// (OTP keeps restarts with R >= Now - Period): intensity 1 escalates.
TEST_F(one_for_one, escalation_at_period_boundary) {
  auto sup = boot(flags_of(strategy::one_for_one, 1, 1000ms), {worker("a", start_worker(j, "a"))});
  auto down = watch(sup);
  crash(child(sup, "a"));
  advance(1000ms);
  crash(child(sup, "a"));
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// When a group restart fails at an earlier child, the child whose exit caused it is
// left undefined (OTP: pid undefined), not restarting: restart_child then starts it.
TEST_F(restarting, group_failure_leaves_others_undefined) {
  auto f = flags_of(strategy::one_for_all, 10);
  f.backoff = backoff_spec{1000ms, 1000ms, 0.0, 30'000ms};
  auto sup = boot(f, {worker("a", start_then_fail(j, "a", 1)), worker("b", start_worker(j, "b"))});
  crash(child(sup, "b"));
  advance(1000ms);  // the group restart: a fails to start, its retry waits for the back-off
  EXPECT_EQ(status(sup, "a"), child_status::restarting);
  EXPECT_EQ(status(sup, "b"), child_status::undefined);
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, std::string{"a"}));
  auto b = ask<caf::actor>(sup, restart_child_atom::value, std::string{"b"});
  ASSERT_TRUE(b) << sys().render(b.error());
  EXPECT_TRUE(pings(*b));
  fire_timers();
  EXPECT_EQ(status(sup, "a"), child_status::undefined);
  stop(sup);
}

// A bystander waiting for its own back-off restart is started by a group restart and its
// stale back-off timer does not start it a second time.
TEST_F(restarting, group_restart_cancels_bystander_backoff) {
  auto f = flags_of(strategy::one_for_all, 10);
  f.backoff = backoff_spec{1000ms, 1000ms, 0.0, 30'000ms};
  auto sup = boot(f, {worker("a", start_worker(j, "a")), worker("b", start_worker(j, "b"))});
  crash(child(sup, "a"));
  advance(500ms);
  crash(child(sup, "b"));  // b restarts at 1500ms, a's group restart happens at 1000ms
  advance(500ms);
  EXPECT_EQ(j->count("start:a"), 2u);
  EXPECT_EQ(j->count("start:b"), 2u);
  EXPECT_EQ(status(sup, "b"), child_status::running);
  advance(1000ms);
  EXPECT_EQ(j->count("start:b"), 2u);
  stop(sup);
}

namespace {

/// Lines of `text` that contain both `a` and `b`.
size_t lines_with(const std::string& text, const std::string& a, const std::string& b) {
  std::istringstream in{text};
  size_t n = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(a) != std::string::npos && line.find(b) != std::string::npos) {
      ++n;
    }
  }
  return n;
}

/// A child that traps exit messages and answers any of them by exiting normally.
start_fn start_exits_normally_on_shutdown(std::shared_ptr<journal> j, std::string name) {
  return [j, name](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    return sys.spawn([j, name](caf::event_based_actor* self) -> caf::behavior {
      j->add("start:" + name);
      self->set_exit_handler([self](caf::exit_msg&) { self->quit(caf::exit_reason::normal); });
      return {[](ping_atom) { return pong_atom::value; }};
    });
  };
}

}  // namespace

// A permanent child exiting normally is reported as child_terminated (OTP reports every
// exit of a permanent child); a transient one exiting normally is not.
TEST_F(reports, permanent_normal_exit_reported) {
  auto sup = boot(flags_of(strategy::one_for_one, 5),
                  {worker("p", start_worker(j, "p")),
                   with_restart(worker("t", start_worker(j, "t")), restart_type::transient)});
  crash(child(sup, "p"), caf::exit_reason::normal);
  crash(child(sup, "t"), caf::exit_reason::normal);
  EXPECT_EQ(lines_with(log(), "context=child_terminated", "id=p"), 1u) << log();
  EXPECT_EQ(lines_with(log(), "context=child_terminated", "id=t"), 0u) << log();
  stop(sup);
}

// A stopped child that exits `normal` instead of `user_shutdown` is a shutdown_error only
// when it is permanent (OTP accepts normal from transient and temporary children).
TEST_F(reports, normal_exit_on_stop_of_non_permanent_not_reported) {
  auto sup = boot(flags_of(strategy::one_for_one),
                  {worker("p", start_exits_normally_on_shutdown(j, "p")),
                   with_restart(worker("t", start_exits_normally_on_shutdown(j, "t")),
                                restart_type::transient)});
  stop(sup);
  EXPECT_EQ(lines_with(log(), "context=shutdown_error", "id=p"), 1u) << log();
  EXPECT_EQ(lines_with(log(), "context=shutdown_error", "id=t"), 0u) << log();
}

// A child that crashed while the supervisor was busy, and whose exit a stop then consumes,
// is reported as shutdown_error with its real reason (OTP's unlink_flush picks up the EXIT).
TEST_F(reports, exit_consumed_by_stop_reported) {
  auto sup =
      boot(flags_of(strategy::one_for_one),
           {worker("a", start_worker(j, "a")),
            with_shutdown(worker("b", start_worker(j, "b", true)), shutdown_spec::after(1000ms))});
  auto a = child(sup, "a");
  stop(sup);  // b traps the exit: the supervisor waits for it
  crash(a);
  advance(1000ms);
  EXPECT_EQ(lines_with(log(), "context=shutdown_error", "id=a"), 1u) << log();
  EXPECT_EQ(lines_with(log(), "context=child_terminated", "id=a"), 0u) << log();
}

// Under simple_one_for_one, a child waiting for its restart is found by its old handle
// (OTP looks up {restarting, Pid}): terminate_child cancels the restart and forgets it.
TEST_F(simple_one_for_one, terminate_restarting_child_by_old_handle) {
  auto f = flags_of(strategy::simple_one_for_one, 10);
  f.backoff = backoff_spec{1000ms, 1000ms, 0.0, 30'000ms};
  auto sup = boot(f, {worker("d", start_dynamic_worker(j))});
  auto x = ask<caf::actor>(sup, start_child_atom::value, caf::make_message(std::string{"x"}));
  ASSERT_TRUE(x);
  crash(*x);
  ASSERT_EQ(children(sup).size(), 1u);
  EXPECT_EQ(children(sup)[0].status, child_status::restarting);
  auto spec = ask<child_spec>(sup, get_childspec_atom::value, *x);
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->id, "d");
  ASSERT_TRUE(ask<caf::unit_t>(sup, terminate_child_atom::value, *x));
  EXPECT_TRUE(children(sup).empty());
  fire_timers();
  EXPECT_EQ(j->count("start:x"), 1u);
  stop(sup);
}

// A supervisor child defaults to shutdown infinity: its parent waits past 5000 ms for
// its subtree to stop (here a trapping grandchild killed after its 10 s timeout).
TEST_F(sup_stop, supervisor_child_waited_for_indefinitely) {
  auto jj = j;
  auto sub = [jj](caf::actor_system& s, const caf::message&) {
    return start_supervisor(
        s, flags_of(strategy::one_for_one),
        {with_shutdown(worker("x", start_worker(jj, "x", true)), shutdown_spec::after(10'000ms))});
  };
  auto sup = boot(flags_of(strategy::one_for_one), {supervisor("sub", sub)});
  auto down = watch(sup);
  stop(sup);
  advance(9'999ms);
  EXPECT_FALSE(down->has_value());
  EXPECT_EQ(j->count("stop:x:kill"), 0u);
  advance(1ms);
  EXPECT_EQ(j->count("stop:x:kill"), 1u);
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// Requests that arrive during a one_for_all group stop see the restarted group.
TEST_F(requests, answered_after_group_restart) {
  auto sup =
      boot(flags_of(strategy::one_for_all, 5),
           {worker("a", start_worker(j, "a")),
            with_shutdown(worker("b", start_worker(j, "b", true)), shutdown_spec::after(1000ms))});
  crash(child(sup, "a"));  // b traps the exit: the group stop waits for its timeout
  auto which = ask_later<std::vector<child_info>>(sup, which_children_atom::value);
  run();
  EXPECT_FALSE(which->has_value());
  advance(1000ms);
  ASSERT_TRUE(which->has_value() && **which);
  for (auto& c : ***which) {
    EXPECT_EQ(c.status, child_status::running) << c.id;
  }
  EXPECT_EQ(j->count("start:a"), 2u);
  EXPECT_EQ(j->count("start:b"), 2u);
  stop(sup);
  advance(1000ms);
}

// The intensity-shutdown report names the child whose exit exceeded the intensity.
TEST_F(reports, intensity_shutdown_names_offender) {
  auto sup = boot(flags_of(strategy::one_for_one, 0), {worker("a", start_worker(j, "a"))});
  crash(child(sup, "a"));
  EXPECT_EQ(lines_with(log(), "context=shutdown reason=", "offender=[id=a"), 1u) << log();
}

// -- the example tree of docs/supervisors.md (same code, clang-formatted) ---------

namespace docs_example {

namespace sv = myelin::supervisors;

caf::behavior modem(caf::event_based_actor*) {
  return {[](ping_atom) { return pong_atom::value; }};
}

caf::behavior dhcp(caf::event_based_actor*) {
  return {[](ping_atom) { return pong_atom::value; }};
}

caf::behavior session(caf::event_based_actor*, std::string peer) {
  return {[peer](ping_atom) { return peer; }};
}

caf::expected<caf::actor> start_network(caf::actor_system& sys) {
  sv::supervisor_flags flags;
  flags.strategy = sv::strategy::rest_for_one;  // dhcp depends on modem
  flags.intensity = 3;
  flags.period = std::chrono::seconds{10};
  flags.name = "network";
  return sv::start_supervisor(
      sys, flags,
      {
          sv::worker("modem",
                     [](caf::actor_system& s, const caf::message&) -> caf::expected<caf::actor> {
                       return s.spawn(modem);
                     }),
          sv::worker("dhcp",
                     [](caf::actor_system& s, const caf::message&) -> caf::expected<caf::actor> {
                       return s.spawn(dhcp);
                     }),
      });
}

caf::expected<caf::actor> start_sessions(caf::actor_system& sys) {
  sv::supervisor_flags flags;
  flags.strategy = sv::strategy::simple_one_for_one;
  auto spec = sv::worker(
      "session", [](caf::actor_system& s, const caf::message& args) -> caf::expected<caf::actor> {
        return s.spawn(session, args.get_as<std::string>(0));
      });
  spec.restart = sv::restart_type::transient;
  return sv::start_supervisor(sys, flags, {spec});
}

caf::expected<caf::actor> start_root(caf::actor_system& sys) {
  sv::supervisor_flags flags;
  flags.strategy = sv::strategy::one_for_one;
  flags.intensity = 5;
  return sv::start_supervisor(
      sys, flags,
      {
          sv::supervisor("network", [](caf::actor_system& s,
                                       const caf::message&) { return start_network(s); }),
          sv::supervisor("sessions", [](caf::actor_system& s,
                                        const caf::message&) { return start_sessions(s); }),
      });
}

}  // namespace docs_example

// The example tree of docs/supervisors.md starts, takes a session and stops as described.
TEST_F(nested, docs_example_tree) {
  auto root = docs_example::start_root(sys());
  ASSERT_TRUE(root) << sys().render(root.error());
  run();
  auto down = watch(*root);
  auto top = children(*root);
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].id, "network");
  EXPECT_EQ(top[0].type, child_type::supervisor);
  auto net = children(top[0].handle);
  ASSERT_EQ(net.size(), 2u);
  EXPECT_TRUE(pings(net[0].handle));
  auto sessions_sup = top[1].handle;
  auto s = ask<caf::actor>(sessions_sup, start_child_atom::value,
                           caf::make_message(std::string{"10.0.0.7"}));
  ASSERT_TRUE(s);
  EXPECT_EQ(ask<std::string>(*s, ping_atom::value), std::string{"10.0.0.7"});
  caf::anon_send_exit(*root, caf::exit_reason::user_shutdown);
  run();
  ASSERT_TRUE(down->has_value());
  EXPECT_EQ(**down, caf::exit_reason::user_shutdown);
}

// The blocking helpers work from outside actors on the real scheduler.
TEST(blocking_helpers, real_scheduler) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  add_error_category(cfg);
  caf::actor_system sys{cfg};
  spdlog::drop("supervisor");
  auto j = std::make_shared<journal>();
  auto sup =
      start_supervisor(sys, flags_of(strategy::one_for_one), {worker("a", start_worker(j, "a"))});
  ASSERT_TRUE(sup);
  auto cs = which_children(sys, *sup, 10s);
  ASSERT_TRUE(cs);
  ASSERT_EQ(cs->size(), 1u);
  auto n = count_children(sys, *sup, 10s);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->active, 1u);
  auto b = start_child(sys, *sup, worker("b", start_worker(j, "b")), 10s);
  ASSERT_TRUE(b);
  EXPECT_FALSE(terminate_child(sys, *sup, "b", 10s));
  EXPECT_EQ(delete_child(sys, *sup, "zz", 10s), supervisor_errc::not_found);
  EXPECT_FALSE(delete_child(sys, *sup, "b", 10s));
  auto spec = get_childspec(sys, *sup, "a", 10s);
  ASSERT_TRUE(spec);
  EXPECT_EQ(spec->id, "a");
  EXPECT_EQ(restart_child(sys, *sup, "a", 10s).error(), supervisor_errc::running);
  caf::scoped_actor self{sys};
  self->monitor(*sup);
  caf::anon_send_exit(*sup, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg& m) { EXPECT_EQ(m.reason, caf::exit_reason::user_shutdown); });
  spdlog::drop("supervisor");
}
