// Tests of bootloader/src/apps/app_manager.cpp without starting processes:
// apps with isolation = "inproc" (the module loaded into this test). Start and
// restart answer when the app is ready, with the module it loaded; a module
// that cannot be loaded answers with the reason; an app whose tree gives up
// is reported to the exit listeners.
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/bootloader/apps.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

fs::path apps_dir() {
  return myelin::test::bin_dir().parent_path() / "apps";
}

bootloader::apps_options::app inproc(const std::string& name, std::string module = {}) {
  bootloader::apps_options::app a;
  a.name = name;
  a.isolation = "inproc";
  a.module = module.empty() ? (apps_dir() / name / ("lib" + name + ".so")).string() : module;
  a.intensity = 0;
  return a;
}

constexpr caf::atom_value listener_name = caf::atom("testlisten");

class app_manager_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(apps_dir() / "hello" / "libhello.so")) {
      GTEST_SKIP() << "needs the example apps built (" << apps_dir().string() << ")";
    }
  }

  void TearDown() override {
    if (manager) {
      caf::scoped_actor self{sys};
      self->send_exit(manager, caf::exit_reason::user_shutdown);
      self->wait_for(manager);
    }
    sys.registry().erase(listener_name);
  }

  void start(std::vector<bootloader::apps_options::app> apps) {
    bootloader::apps_options opts;
    opts.apps = std::move(apps);
    opts.base_dir = apps_dir().string();
    opts.data_root = (data.path() / "app-data").string();
    opts.exit_listeners = {listener_name};
    auto m = bootloader::app_manager_start(opts)(sys, caf::make_message());
    ASSERT_TRUE(m) << sys.render(m.error());
    manager = *m;
  }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::scoped_actor self{sys};
    caf::expected<T> out{caf::error{}};
    self->request(manager, 10s, std::forward<Ts>(xs)...)
        .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  caf::actor manager;
  myelin::test::temp_dir data;
};

// restart answers once the new instance is ready, with the module it loaded;
// start of a running app answers at once.
TEST_F(app_manager_test, restart_answers_when_running_with_its_module) {
  start({inproc("hello")});
  auto started = ask<actors::app_status>(actors::app_start_atom::value, std::string{"hello"});
  ASSERT_TRUE(started) << sys.render(started.error());
  EXPECT_EQ(started->state, "running");
  auto row = ask<actors::app_status>(actors::app_restart_atom::value, std::string{"hello"});
  ASSERT_TRUE(row) << sys.render(row.error());
  EXPECT_EQ(row->state, "running");
  EXPECT_EQ(row->module, (apps_dir() / "hello" / "libhello.so").string());
  EXPECT_FALSE(row->start.empty());
  auto unknown = ask<actors::app_status>(actors::app_restart_atom::value, std::string{"nope"});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), static_cast<uint8_t>(actors::app_errc::unknown_app));
}

// A restart that fails answers with why, and the app is failed.
TEST_F(app_manager_test, restart_that_fails_answers_the_reason) {
  start({inproc("hello"), inproc("ghost", "/nonexistent/libghost.so")});
  auto row = ask<actors::app_status>(actors::app_restart_atom::value, std::string{"ghost"});
  ASSERT_FALSE(row);
  EXPECT_NE(sys.render(row.error()).find("libghost.so"), std::string::npos)
      << sys.render(row.error());
  auto rows = ask<std::vector<actors::app_status>>(actors::apps_status_atom::value);
  ASSERT_TRUE(rows);
  for (const auto& r : *rows) {
    EXPECT_EQ(r.state, r.name == "ghost" ? "failed" : "running") << r.name;
  }
}

// An app whose tree gives up is reported to the exit listeners (the overlays
// service's probation), with why; a stop asked for is not.
TEST_F(app_manager_test, unasked_exit_reaches_the_exit_listeners) {
  caf::scoped_actor listener{sys};
  sys.registry().put(listener_name, caf::actor_cast<caf::actor>(listener));
  start({inproc("fault")});
  ASSERT_TRUE(ask<actors::app_status>(actors::app_start_atom::value, std::string{"fault"}));
  {
    caf::scoped_actor self{sys};
    caf::error err;
    self->request(manager, 10s, actors::app_stop_atom::value, std::string{"fault"})
        .receive([] {}, [&](caf::error& e) { err = std::move(e); });
    ASSERT_FALSE(err) << sys.render(err);
  }
  bool quiet = true;
  listener->receive(
      [&](actors::app_down_atom, const std::string&, const std::string&) { quiet = false; },
      caf::after(300ms) >> [] {});
  EXPECT_TRUE(quiet) << "a stop asked for was reported as a crash";
  ASSERT_TRUE(ask<actors::app_status>(actors::app_start_atom::value, std::string{"fault"}));
  // fault's tree allows 10 restarts: 12 throws make it give up.
  for (int i = 0; i < 12; ++i) {
    caf::scoped_actor self{sys};
    self->request(manager, 10s, actors::app_call_atom::value, std::string{"fault"},
                  std::string{"throw"}, std::vector<std::string>{})
        .receive([](std::string&) {}, [](caf::error&) {});
    std::this_thread::sleep_for(40ms);
  }
  std::string app;
  std::string why;
  listener->receive(
      [&](actors::app_down_atom, const std::string& name, const std::string& reason) {
        app = name;
        why = reason;
      },
      caf::after(10s) >> [] {});
  EXPECT_EQ(app, "fault");
  EXPECT_FALSE(why.empty());
}

}  // namespace
