// Tests of the lazy clock scheduler (bootloader/src/scheduler.cpp, decision
// 0066): every kind of timer CAF puts on its clock still fires, in order, and
// cancelled ones do not — under both scheduler policies.
#include "myelin/bootloader/scheduler.hpp"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

using namespace std::chrono_literals;

namespace {

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

class lazy_clock_test : public ::testing::TestWithParam<std::string> {
 protected:
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;

  void SetUp() override {
    cfg.set("scheduler.max-threads", size_t{2});
    cfg.set("logger.verbosity", caf::atom("quiet"));
    myelin::bootloader::use_lazy_clock_scheduler(cfg, GetParam());
    sys = std::make_unique<caf::actor_system>(cfg);
  }
};

/// Answers `ping` after `delay` (through a delayed message to itself).
caf::behavior slow_echo(caf::event_based_actor* self, std::chrono::milliseconds delay) {
  return {[self, delay](ping_atom, int x) {
    auto rp = self->make_response_promise<int>();
    self->delayed_send(self, delay, tick_atom::value, x);
    self->become(caf::keep_behavior, [self, rp](tick_atom, int y) mutable {
      rp.deliver(y);
      self->unbecome();
    });
    return rp;
  }};
}

}  // namespace

// A request answered in time gets its answer; one answered too late gets
// request_timeout — many times over, so that entries are armed and cancelled
// while the clock's thread sleeps on a later one.
TEST_P(lazy_clock_test, request_timeouts_fire_and_answers_cancel_them) {
  auto fast = sys->spawn(slow_echo, 1ms);
  auto slow = sys->spawn(slow_echo, 300ms);
  caf::scoped_actor self{*sys};
  for (int i = 0; i < 200; ++i) {
    bool answered = false;
    self->request(fast, 10s, ping_atom::value, i)
        .receive([&](int y) { answered = y == i; }, [&](caf::error&) {});
    ASSERT_TRUE(answered) << i;
  }
  // A long timeout armed first; then a short one must still fire on time
  // (the clock's thread has to be woken for it).
  // (Had it slept on, the answer after 300 ms would have come first.)
  caf::error err;
  self->request(slow, 50ms, ping_atom::value, 1)
      .receive([](int) {}, [&](caf::error& e) { err = e; });
  EXPECT_EQ(err, caf::sec::request_timeout);
  caf::anon_send_exit(fast, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(slow, caf::exit_reason::user_shutdown);
}

// Delayed messages arrive in the order of their due times, not of sending,
// including one due before everything already scheduled.
TEST_P(lazy_clock_test, delayed_messages_arrive_in_due_order) {
  caf::scoped_actor self{*sys};
  for (int ms : {120, 60, 180, 5}) {
    self->delayed_send(self, std::chrono::milliseconds{ms}, tick_atom::value, ms);
  }
  std::vector<int> got;
  for (int i = 0; i < 4; ++i) {
    self->receive([&](tick_atom, int ms) { got.push_back(ms); },
                  caf::after(5s) >> [&] { got.push_back(-1); });
  }
  EXPECT_EQ(got, (std::vector<int>{5, 60, 120, 180}));
}

// A behavior's `after` timeout fires when nothing arrives, is re-armed by
// each message (the replaced entry must not fire), and ends with the actor.
TEST_P(lazy_clock_test, behavior_timeouts_rearm_and_fire) {
  std::atomic<int> fired{0};
  auto quiet = sys->spawn([&fired](caf::event_based_actor* self) -> caf::behavior {
    return {[](int) {}, caf::after(std::chrono::milliseconds{400}) >>
                            [self, &fired] {
                              ++fired;
                              self->quit();
                            }};
  });
  // Keep it busy for ~600 ms: each message re-arms the 400 ms timeout.
  for (int i = 0; i < 12; ++i) {
    caf::anon_send(quiet, i);
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(fired.load(), 0);
  caf::scoped_actor self{*sys};
  self->wait_for(quiet);
  EXPECT_EQ(fired.load(), 1);
}

// Shutting the system down with timers still pending neither hangs nor
// delivers them.
TEST_P(lazy_clock_test, shutdown_with_pending_timers) {
  auto target = sys->spawn([](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; });
  for (int i = 0; i < 100; ++i) {
    caf::delayed_anon_send(target, std::chrono::hours{1}, i);
  }
  caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
  sys.reset();  // returns (the test's time limit would catch a hang)
}

INSTANTIATE_TEST_SUITE_P(policies, lazy_clock_test, ::testing::Values("sharing", "stealing"));
