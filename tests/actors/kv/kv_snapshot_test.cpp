// Tests of actors/src/kv/kv_snapshot.cpp: the kv service's published read-only
// copy answers reads exactly as the service does.
#include "myelin/actors/kv_snapshot.hpp"

#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/actors/kv.hpp"

using namespace myelin;
using actors::kv_snapshot;

namespace {

using namespace std::chrono_literals;

struct kv_fixture : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor kv;

  void SetUp() override {
    supervisors::add_error_category(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    actors::kv_options opts;
    opts.backend = "memory";
    opts.initial = {
        {"nerves_fw_active", "b"}, {"b.version", "2.0"}, {"a.version", "1.0"}, {"color", "red"}};
    auto started = actors::kv_start(opts)(*sys, caf::make_message());
    ASSERT_TRUE(started);
    kv = *started;
    // The service publishes when it starts running: wait for its first answer.
    ask<actors::kv_status>(caf::make_message(actors::kv_status_atom::value));
  }

  void TearDown() override {
    caf::anon_send_exit(kv, caf::exit_reason::user_shutdown);
    kv = nullptr;
    sys.reset();
  }

  /// The service's own answer to `request`, a T, as a message (a value or an error).
  template <class T = caf::unit_t>
  caf::message ask(const caf::message& request) {
    caf::scoped_actor self{*sys};
    caf::message out;
    if constexpr (std::is_same_v<T, caf::unit_t>) {
      self->request(kv, 5s, request)
          .receive([&] {}, [&](caf::error& err) { out = caf::make_message(std::move(err)); });
    } else {
      self->request(kv, 5s, request)
          .receive([&](T& x) { out = caf::make_message(std::move(x)); },
                   [&](caf::error& err) { out = caf::make_message(std::move(err)); });
    }
    return out;
  }
};

}  // namespace

// Every read request gets the same answer from the snapshot as from the
// service, including not_found errors with their text.
TEST_F(kv_fixture, snapshot_answers_reads_like_the_service) {
  std::vector<caf::message> keyed{
      caf::make_message(actors::kv_get_atom::value, std::string{"color"}),
      caf::make_message(actors::kv_get_atom::value, std::string{"missing"}),
      caf::make_message(actors::kv_get_active_atom::value, std::string{"version"}),
      caf::make_message(actors::kv_get_active_atom::value, std::string{"missing"}),
  };
  std::vector<caf::message> whole{
      caf::make_message(actors::kv_get_all_atom::value),
      caf::make_message(actors::kv_get_all_active_atom::value),
  };
  auto& snap = kv_snapshot::of(*sys);
  for (const auto& r : keyed) {
    auto fast = snap.answer(r);
    ASSERT_TRUE(fast) << caf::to_string(r);
    EXPECT_EQ(caf::to_string(*fast), caf::to_string(ask<std::string>(r))) << caf::to_string(r);
  }
  for (const auto& r : whole) {
    auto fast = snap.answer(r);
    ASSERT_TRUE(fast) << caf::to_string(r);
    EXPECT_EQ(caf::to_string(*fast), caf::to_string(ask<runtime::kv_map>(r))) << caf::to_string(r);
  }
  auto status = snap.answer(caf::make_message(actors::kv_status_atom::value));
  ASSERT_TRUE(status && status->match_elements<actors::kv_status>());
  EXPECT_EQ(status->get_as<actors::kv_status>(0).keys, 4u);
}

// A write is visible in the snapshot once the service has answered it.
TEST_F(kv_fixture, snapshot_follows_writes) {
  ask(caf::make_message(actors::kv_put_atom::value, runtime::kv_map{{"color", "blue"}}));
  auto fast = kv_snapshot::of(*sys).answer(
      caf::make_message(actors::kv_get_atom::value, std::string{"color"}));
  ASSERT_TRUE(fast && fast->match_elements<std::string>());
  EXPECT_EQ(fast->get_as<std::string>(0), "blue");
}

// Writes, unknown and malformed requests are declined (they go to the service).
TEST_F(kv_fixture, snapshot_declines_other_requests) {
  auto& snap = kv_snapshot::of(*sys);
  EXPECT_FALSE(snap.answer(caf::make_message(actors::kv_put_atom::value, runtime::kv_map{})));
  EXPECT_FALSE(snap.answer(caf::make_message(actors::serial_atom::value)));
  EXPECT_FALSE(snap.answer(caf::make_message()));
  EXPECT_FALSE(snap.answer(caf::make_message(std::string{"kvget"})));
  EXPECT_FALSE(snap.answer(caf::make_message(actors::kv_get_atom::value)));
  EXPECT_FALSE(snap.answer(caf::make_message(actors::kv_get_atom::value, 42)));
  EXPECT_FALSE(snap.answer(caf::make_message(actors::kv_get_all_atom::value, std::string{"x"})));
}

// When the service stops, the snapshot declines: nothing stale is served.
TEST_F(kv_fixture, snapshot_withdrawn_when_service_stops) {
  auto& snap = kv_snapshot::of(*sys);
  ASSERT_TRUE(snap.current());
  caf::scoped_actor self{*sys};
  self->monitor(kv);
  caf::anon_send_exit(kv, caf::exit_reason::kill);
  self->receive([](caf::down_msg&) {});
  // The withdrawal runs among the actor's cleanup functions, which may come
  // after the monitor's down message: wait for it (bounded).
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (snap.current() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  EXPECT_FALSE(snap.current());
  EXPECT_FALSE(snap.answer(caf::make_message(actors::kv_get_all_atom::value)));
}
