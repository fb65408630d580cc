// Tests of the overlays service (actors/src/overlays/overlays_service.cpp) against a
// fake app manager: no processes. A push whose apps come up, one whose app
// fails to start (rollback), a crash on probation, a push racing a crash,
// probation passing, one operation at a time, the firmware switch's mark.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/actors/apps.hpp"
#include "myelin/actors/kv_snapshot.hpp"
#include "myelin/actors/overlays.hpp"
#include "myelin/test/support.hpp"

using namespace myelin;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using myelin::test::temp_dir;

namespace {

/// What the fake app manager does when asked to restart an app.
enum class behaviour { come_up, fail, crash_after_ready };

struct fake_apps {
  std::mutex mtx;
  /// app -> behaviour per module content seen: keyed by the file's contents.
  std::map<std::string, behaviour> by_module_contents;
  std::vector<std::string> restarts;
  std::shared_ptr<runtime::overlay_store> store;
};

caf::behavior fake_manager(caf::event_based_actor* self, std::shared_ptr<fake_apps> f) {
  return {
      [f](actors::apps_status_atom) {
        std::vector<actors::app_status> rows;
        for (const auto& name : f->store->apps()) {
          actors::app_status row;
          row.name = name;
          row.state = "running";
          rows.push_back(row);
        }
        return rows;
      },
      [self, f](actors::app_restart_atom,
                const std::string& name) -> caf::result<actors::app_status> {
        auto module = f->store->module_path(name);
        auto contents = module ? myelin::test::read_file(*module) : std::string{};
        behaviour b = behaviour::come_up;
        {
          std::lock_guard<std::mutex> guard{f->mtx};
          f->restarts.push_back(name + ":" + contents);
          if (auto i = f->by_module_contents.find(contents); i != f->by_module_contents.end()) {
            b = i->second;
          }
        }
        if (b == behaviour::fail) {
          return actors::make_error(actors::app_errc::start_failed, "killed by SIGSEGV");
        }
        actors::app_status row;
        row.name = name;
        row.state = "running";
        row.module = module ? *module : "";
        if (b == behaviour::crash_after_ready) {
          // The down notice races the reply: sent first, as a real crash
          // right after ready could be.
          if (auto ov = self->system().registry().get<caf::actor>(actors::overlays_registry_name)) {
            self->send(ov, actors::app_down_atom::value, name, std::string{"killed by SIGABRT"});
          }
        }
        return row;
      },
  };
}

class overlays_service_test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto write = [](const fs::path& p, const std::string& s) {
      fs::create_directories(p.parent_path());
      myelin::test::write_file(p, s);
    };
    write(dir / "base/hello/libhello.so", "hello v1");
    write(dir / "base/ticker/libticker.so", "ticker v1");
    runtime::overlay_store_options o;
    o.base_dir = (dir / "base").string();
    o.persistent_dir = (dir / "state/overlays").string();
    o.volatile_dir = (dir / "state/run/overlays").string();
    o.allow_unsigned = true;
    o.known_apps = {"hello", "ticker"};
    auto s = runtime::overlay_store::open(o);
    ASSERT_TRUE(s) << runtime::describe(s.error());
    store = std::shared_ptr<runtime::overlay_store>{std::move(*s)};
    fake = std::make_shared<fake_apps>();
    fake->store = store;
    auto mgr = sys.spawn(fake_manager, fake);
    sys.registry().put(actors::apps_registry_name, mgr);
  }

  void TearDown() override {
    for (auto& svc : services) {
      caf::anon_send_exit(svc, caf::exit_reason::kill);
    }
    sys.registry().erase(actors::apps_registry_name);
    sys.registry().erase(actors::overlays_registry_name);
  }

  caf::actor start_service(std::chrono::seconds probation) {
    actors::overlay_service_options opts;
    opts.store = store;
    opts.persistent_dir = (dir / "state/overlays").string();
    opts.probation = probation;
    opts.start_timeout = 2000ms;
    auto svc = actors::overlays_start(opts)(sys, caf::make_message());
    EXPECT_TRUE(svc);
    if (svc) {
      services.push_back(*svc);
    }
    return svc ? *svc : caf::actor{};
  }

  std::string bundle(const std::string& module_contents) {
    runtime::overlay_manifest m;
    m.files.push_back(
        {"hello/libhello.so", runtime::sha256_hex(module_contents), module_contents.size(), 0644});
    m.apps = {"hello"};
    m.persist = true;
    return runtime::make_bundle(m, {module_contents}, nullptr);
  }

  template <class T, class... Ts>
  caf::expected<T> ask(const caf::actor& svc, Ts&&... xs) {
    caf::scoped_actor self{sys};
    caf::expected<T> out{caf::error{}};
    self->request(svc, 10s, std::forward<Ts>(xs)...)
        .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  /// For requests answered with caf::unit (an empty message).
  caf::error ask_done(const caf::actor& svc, std::string from, std::string to) {
    caf::scoped_actor self{sys};
    caf::error out;
    self->request(svc, 10s, actors::overlays_switch_atom::value, std::move(from), std::move(to))
        .receive([] {}, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  actors::overlays_info info(const caf::actor& svc) {
    auto i = ask<actors::overlays_info>(svc, actors::overlays_info_atom::value);
    EXPECT_TRUE(i);
    return i ? *i : actors::overlays_info{};
  }

  /// Waits (up to 5 s) for `pred(info)`.
  bool eventually(const caf::actor& svc,
                  const std::function<bool(const actors::overlays_info&)>& pred) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred(info(svc))) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  temp_dir dir;
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<runtime::overlay_store> store;
  std::shared_ptr<fake_apps> fake;
  std::vector<caf::actor> services;
};

// The changed app is restarted once and answers running: the push is ok, with
// the module the manager loaded, and goes on probation.
TEST_F(overlays_service_test, push_restarts_the_changed_app_and_answers_its_module) {
  auto svc = start_service(30s);
  auto r = ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("hello v2"));
  ASSERT_TRUE(r) << runtime::describe(r.error());
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->probation_s, 30);
  ASSERT_EQ(r->apps.size(), 1u);
  EXPECT_EQ(r->apps[0].name, "hello");
  EXPECT_EQ(r->apps[0].state, "running");
  EXPECT_EQ(myelin::test::read_file(r->apps[0].module), "hello v2");
  EXPECT_EQ(fake->restarts, (std::vector<std::string>{"hello:hello v2"}));
  EXPECT_EQ(info(svc).stack.size(), 1u);
  EXPECT_TRUE(info(svc).last_good.empty());
}

// A version that does not start is rolled back, and the old one restarted.
TEST_F(overlays_service_test, restart_that_fails_rolls_back) {
  fake->by_module_contents["hello bad"] = behaviour::fail;
  auto svc = start_service(30s);
  auto r = ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("hello bad"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok);
  EXPECT_TRUE(r->rolled_back);
  EXPECT_EQ(r->failed.at("hello"), "killed by SIGSEGV");
  EXPECT_NE(r->error.find("app hello did not start: killed by SIGSEGV"), std::string::npos)
      << r->error;
  EXPECT_EQ(fake->restarts, (std::vector<std::string>{"hello:hello bad", "hello:hello v1"}));
  EXPECT_TRUE(info(svc).stack.empty());
  EXPECT_TRUE(info(svc).has_last_rollback);
}

// A crash within the probation window rolls back; the window passing makes
// the stack last-good.
TEST_F(overlays_service_test, probation_crash_rolls_back_and_passing_marks_good) {
  auto svc = start_service(30s);
  ASSERT_TRUE(ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("v2")));
  caf::anon_send(svc, actors::app_down_atom::value, std::string{"hello"},
                 std::string{"killed by SIGSEGV"});
  ASSERT_TRUE(eventually(svc, [](const auto& i) { return i.has_last_rollback; }));
  auto i = info(svc);
  EXPECT_TRUE(i.stack.empty());
  EXPECT_NE(i.last_rollback.error.find("hello failed on probation: killed by SIGSEGV"),
            std::string::npos)
      << i.last_rollback.error;
  // A crash of an app not on probation changes nothing.
  caf::anon_send(svc, actors::app_down_atom::value, std::string{"ticker"}, std::string{"x"});
  sys.registry().erase(actors::overlays_registry_name);
  auto short_svc = start_service(std::chrono::seconds{1});
  ASSERT_TRUE(
      ask<actors::overlay_result>(short_svc, actors::overlays_push_atom::value, bundle("v3")));
  EXPECT_TRUE(eventually(short_svc, [](const auto& x) { return x.last_good.size() == 1u; }));
}

// A crash right after ready, racing the push's reply, fails its probation at once.
TEST_F(overlays_service_test, push_racing_a_crash_rolls_back) {
  fake->by_module_contents["hello flaky"] = behaviour::crash_after_ready;
  auto svc = start_service(30s);
  auto r =
      ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("hello flaky"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->ok);
  ASSERT_TRUE(eventually(svc, [](const auto& i) { return i.has_last_rollback; }));
  EXPECT_TRUE(info(svc).stack.empty());
  EXPECT_EQ(fake->restarts.back(), "hello:hello v1");
}

// Pushes run one at a time, in order: two sent together both apply.
TEST_F(overlays_service_test, pushes_run_one_at_a_time) {
  auto svc = start_service(30s);
  caf::scoped_actor self{sys};
  int answered = 0;
  self->request(svc, 10s, actors::overlays_push_atom::value, bundle("a"))
      .receive([&](actors::overlay_result& r) { answered += r.ok ? 1 : 0; }, [](caf::error&) {});
  self->request(svc, 10s, actors::overlays_push_atom::value, bundle("b"))
      .receive([&](actors::overlay_result& r) { answered += r.ok ? 1 : 0; }, [](caf::error&) {});
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(info(svc).stack.size(), 2u);
  EXPECT_EQ(myelin::test::read_file(*store->module_path("hello")), "b");
}

// A bad bundle is refused with the store's error, nothing restarted.
TEST_F(overlays_service_test, bad_bundle_refused) {
  auto svc = start_service(30s);
  auto r = ask<actors::overlay_result>(svc, actors::overlays_push_atom::value,
                                       std::string{"myelin-overlay 1\nmanifest 99\ntrunc"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().category(), caf::atom("overlay"));
  EXPECT_TRUE(fake->restarts.empty());
}

// A switch a -> b marks the overlays for the next boot; a switch back to a
// withdraws the mark.
TEST_F(overlays_service_test, firmware_switch_marks_and_unmarks) {
  auto svc = start_service(0s);
  ASSERT_TRUE(ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("v2")));
  ASSERT_FALSE(ask_done(svc, "a", "b"));
  EXPECT_TRUE(info(svc).aside_at_boot);
  ASSERT_FALSE(ask_done(svc, "b", "a"));
  EXPECT_FALSE(info(svc).aside_at_boot);
  ASSERT_FALSE(ask_done(svc, "a", "b"));
  EXPECT_TRUE(fs::exists(dir / "state/overlays" / actors::switch_mark_file));
}

// Issue 19, decision 0077: the overlays follow the firmware. The boot into b
// sets a's overlays aside; what is pushed on b goes when b reverts and a's
// come back; a validated b drops a's.
TEST_F(overlays_service_test, overlays_follow_validation) {
  auto environment = [](const std::string& active, bool validated, const std::string& a_uuid) {
    auto c = std::make_shared<actors::kv_snapshot::contents>();
    c->values = {
        {"nerves_fw_active", active},           {"nerves_fw_validated", validated ? "1" : "0"},
        {"a.nerves_fw_platform", "host"},       {"a.nerves_fw_architecture", "x86_64"},
        {"a.nerves_fw_uuid", a_uuid},           {"b.nerves_fw_platform", "host"},
        {"b.nerves_fw_architecture", "x86_64"}, {"b.nerves_fw_uuid", "uuid-b"}};
    return c;
  };
  auto boot = [&](const std::string& active, bool validated, const std::string& a_uuid = "uuid-a") {
    for (auto& old : services) {
      caf::scoped_actor self{sys};
      self->monitor(old);
      caf::anon_send_exit(old, caf::exit_reason::kill);
      self->receive([](const caf::down_msg&) {});
    }
    services.clear();
    actors::kv_snapshot::of(sys).publish(environment(active, validated, a_uuid));
    return start_service(0s);
  };
  auto hello = [&] { return myelin::test::read_file(*store->module_path("hello")); };
  auto overlay_dirs = [&] {
    size_t n = 0;
    for (const auto& e : fs::directory_iterator{dir / "state/overlays"}) {
      n += e.is_directory() ? 1 : 0;
    }
    return n;
  };
  // On a: push v2, then firmware b is installed.
  auto svc = boot("a", true);
  ASSERT_TRUE(ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("v2")));
  ASSERT_FALSE(ask_done(svc, "a", "b"));
  // The boot into b: set aside, the base runs.
  svc = boot("b", false);
  auto i = info(svc);
  EXPECT_TRUE(i.stack.empty());
  ASSERT_TRUE(i.has_aside);
  EXPECT_EQ(i.aside_slot, "a");
  EXPECT_EQ(i.aside_stack.size(), 1u);
  EXPECT_FALSE(i.aside_at_boot);
  EXPECT_EQ(hello(), "hello v1");
  // Pushed on b, then b reverts (the bootloader does it: nerves_fw_active=a).
  ASSERT_TRUE(ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("v3")));
  EXPECT_EQ(hello(), "v3");
  EXPECT_EQ(overlay_dirs(), 2u);
  svc = boot("a", true);
  i = info(svc);
  EXPECT_FALSE(i.has_aside);
  EXPECT_EQ(i.stack.size(), 1u);
  EXPECT_EQ(hello(), "v2");
  EXPECT_EQ(overlay_dirs(), 1u);  // b's overlay went with b
  // Again to b, and this time b is validated while it runs.
  ASSERT_FALSE(ask_done(svc, "a", "b"));
  svc = boot("b", false);
  ASSERT_TRUE(info(svc).has_aside);
  {
    caf::scoped_actor self{sys};
    bool answered = false;
    self->request(svc, 10s, actors::overlays_validated_atom::value)
        .receive([&] { answered = true; }, [](caf::error&) {});
    EXPECT_TRUE(answered);
  }
  EXPECT_FALSE(info(svc).has_aside);
  EXPECT_EQ(overlay_dirs(), 0u);
  svc = boot("b", true);
  EXPECT_FALSE(info(svc).has_aside);
  EXPECT_EQ(hello(), "hello v1");
}

// Set aside for the firmware in a, then a is overwritten (a forced push from
// the unvalidated b): the boot into the new a does not bring them back.
TEST_F(overlays_service_test, set_aside_overlays_never_return_to_other_firmware) {
  auto publish = [&](const std::string& active, const std::string& a_uuid) {
    auto c = std::make_shared<actors::kv_snapshot::contents>();
    c->values = {{"nerves_fw_active", active},           {"nerves_fw_validated", "0"},
                 {"a.nerves_fw_platform", "host"},       {"a.nerves_fw_architecture", "x86_64"},
                 {"a.nerves_fw_uuid", a_uuid},           {"b.nerves_fw_platform", "host"},
                 {"b.nerves_fw_architecture", "x86_64"}, {"b.nerves_fw_uuid", "uuid-b"}};
    actors::kv_snapshot::of(sys).publish(c);
  };
  publish("a", "uuid-a");
  {
    auto svc = start_service(0s);
    ASSERT_TRUE(ask<actors::overlay_result>(svc, actors::overlays_push_atom::value, bundle("v2")));
    ASSERT_FALSE(ask_done(svc, "a", "b"));
    caf::scoped_actor self{sys};
    self->monitor(svc);
    caf::anon_send_exit(svc, caf::exit_reason::kill);
    self->receive([](const caf::down_msg&) {});
    services.clear();
  }
  publish("b", "uuid-a");
  {
    auto svc = start_service(0s);
    ASSERT_TRUE(info(svc).has_aside);
    ASSERT_FALSE(ask_done(svc, "b", "a"));  // the forced install into a
    caf::scoped_actor self{sys};
    self->monitor(svc);
    caf::anon_send_exit(svc, caf::exit_reason::kill);
    self->receive([](const caf::down_msg&) {});
    services.clear();
  }
  publish("a", "uuid-new");
  auto svc = start_service(0s);
  auto i = info(svc);
  EXPECT_TRUE(i.stack.empty());
  EXPECT_EQ(myelin::test::read_file(*store->module_path("hello")), "hello v1");
  // What b ran with (nothing) is set aside for b; a's old overlays are gone.
  EXPECT_TRUE(!i.has_aside || i.aside_slot == "b");
}

}  // namespace
