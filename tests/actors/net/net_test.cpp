// Tests of actors/src/net/net.cpp: the net service's table, subscriptions and
// node name, driven by snapshots sent to it as its reader thread would.
#include "myelin/actors/net.hpp"

#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/test/support.hpp"

using namespace myelin;
using namespace std::chrono_literals;
using runtime::property_change;

namespace {

runtime::net_snapshot fake_snapshot(const std::string& ifname, const std::string& ipv4,
                                    bool carrier) {
  runtime::link_state l;
  l.index = 999;
  l.name = ifname;
  l.type = "ethernet";
  l.admin_up = true;
  l.lower_up = carrier;
  if (!ipv4.empty()) {
    l.ipv4 = {ipv4};
    l.addresses = {ipv4 + "/24"};
  }
  runtime::net_snapshot s;
  s.links.push_back(l);
  return s;
}

/// The service, in a network namespace of its own where we can have one
/// (so no other test's interfaces come and go under it).
struct net_fixture : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  test::temp_dir state;
  caf::actor net;

  void SetUp() override {
    if (getuid() == 0) {
      ::unshare(CLONE_NEWNET);
    }
    cfg.set("scheduler.max-threads", 2);
    sys = std::make_unique<caf::actor_system>(cfg);
    actors::net_options opts;
    opts.state_dir = state.path().string();
    opts.config.node_name_prefix = "t";
    auto started = actors::net_start(opts)(*sys, caf::message{});
    ASSERT_TRUE(started);
    net = *started;
  }

  void TearDown() override {
    if (net) {
      caf::anon_send_exit(net, caf::exit_reason::user_shutdown);
    }
    net = nullptr;
    sys.reset();
  }

  /// Receives changes until `pred` holds for one (true) or 10 s pass.
  bool wait_change(caf::scoped_actor& self, const std::function<bool(const property_change&)>& pred,
                   std::vector<property_change>* seen = nullptr) {
    auto deadline = std::chrono::steady_clock::now() + 10s;
    bool found = false;
    while (!found && std::chrono::steady_clock::now() < deadline) {
      self->receive(
          [&](actors::net_change_atom, const property_change& c) {
            if (seen != nullptr) {
              seen->push_back(c);
            }
            found = pred(c);
          },
          caf::after(100ms) >> [] {});
    }
    return found;
  }

  actors::net_status status() {
    caf::scoped_actor self{*sys};
    actors::net_status out;
    self->request(net, 5s, actors::net_status_atom::value)
        .receive([&](const actors::net_status& s) { out = s; }, [](const caf::error&) {});
    return out;
  }
};

}  // namespace

// A subscriber gets the current values at once, then each change (old, new) under its prefix.
TEST_F(net_fixture, subscriber_gets_snapshot_then_changes) {
  caf::scoped_actor self{*sys};
  actors::net_properties initial;
  self->request(net, 5s, actors::net_subscribe_atom::value, std::string{"interface/fake0"})
      .receive([&](const actors::net_properties& p) { initial = p; },
               [](const caf::error& e) { FAIL() << caf::to_string(e); });
  EXPECT_TRUE(initial.empty());
  caf::anon_send(net, fake_snapshot("fake0", "", true));
  EXPECT_TRUE(wait_change(self, [](const property_change& c) {
    return c == property_change{"interface/fake0/lower_up", "", "true"};
  }));
  caf::anon_send(net, fake_snapshot("fake0", "", false));
  EXPECT_TRUE(wait_change(self, [](const property_change& c) {
    return c == property_change{"interface/fake0/lower_up", "true", "false"};
  }));
  // Another interface whose name starts the same is not under the prefix.
  caf::anon_send(net, fake_snapshot("fake01", "", true));
  std::vector<property_change> seen;
  EXPECT_TRUE(wait_change(
      self, [](const property_change& c) { return c.name == "interface/fake0/present"; }, &seen));
  for (const auto& c : seen) {
    EXPECT_EQ(c.name.rfind("interface/fake0/", 0), 0U) << c.name;
  }
}

// The node name follows the primary address, and its subscribers hear of each change.
TEST_F(net_fixture, node_name_change_is_announced) {
  caf::scoped_actor self{*sys};
  self->request(net, 5s, actors::net_subscribe_atom::value, std::string{"node_name"})
      .receive([](const actors::net_properties&) {}, [](const caf::error&) {});
  caf::anon_send(net, fake_snapshot("fake0", "10.9.8.7", true));
  EXPECT_TRUE(wait_change(self, [](const property_change& c) {
    return c.name == "node_name" && c.new_value == "t@10.9.8.7";
  }));
  caf::anon_send(net, fake_snapshot("fake0", "10.9.8.9", true));
  EXPECT_TRUE(wait_change(self, [](const property_change& c) {
    return c == property_change{"node_name", "t@10.9.8.7", "t@10.9.8.9"};
  }));
  EXPECT_EQ(status().node_name, "t@10.9.8.9");
}

// A subscriber that ends is dropped; one that unsubscribes gets nothing more.
TEST_F(net_fixture, dead_and_unsubscribed_subscribers_dropped) {
  auto sub = sys->spawn([this](caf::event_based_actor* self) -> caf::behavior {
    self->request(net, 5s, actors::net_subscribe_atom::value, std::string{""})
        .then([](const actors::net_properties&) {});
    return {[](actors::net_change_atom, const property_change&) {}};
  });
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (status().subscriptions != 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(status().subscriptions, 1U);
  caf::anon_send_exit(sub, caf::exit_reason::kill);
  while (status().subscriptions != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(status().subscriptions, 0U);

  caf::scoped_actor self{*sys};
  self->request(net, 5s, actors::net_subscribe_atom::value, std::string{"interface/x0"})
      .receive([](const actors::net_properties&) {}, [](const caf::error&) {});
  self->request(net, 5s, actors::net_unsubscribe_atom::value, std::string{"interface/x0"})
      .receive([] {}, [](const caf::error&) {});
  EXPECT_EQ(status().subscriptions, 0U);
  caf::anon_send(net, fake_snapshot("x0", "", true));
  // The get is answered after the snapshot was handled: no change may be queued by then.
  actors::net_properties now;
  self->request(net, 5s, actors::net_get_atom::value, std::string{"interface/x0"})
      .receive([&](const actors::net_properties& p) { now = p; }, [](const caf::error&) {});
  EXPECT_EQ(now["interface/x0/present"], "true");
  bool got = false;
  self->receive([&](actors::net_change_atom, const property_change&) { got = true; },
                caf::after(200ms) >> [] {});
  EXPECT_FALSE(got);
}

// Without configured interfaces the service only observes; its status says ok and
// a renew for an interface without udhcpc is an error.
TEST_F(net_fixture, observe_only_status_and_renew_error) {
  auto s = status();
  EXPECT_EQ(s.status, "ok");
  EXPECT_TRUE(s.configured.empty());
  caf::scoped_actor self{*sys};
  caf::error err;
  self->request(net, 5s, actors::net_renew_atom::value, std::string{"eth0"})
      .receive([] {}, [&](const caf::error& e) { err = e; });
  ASSERT_TRUE(err);
  EXPECT_NE(runtime::describe(err).find("no udhcpc runs for 'eth0'"), std::string::npos);
}

// A refused [net] section leaves the service observing, its status naming the key.
TEST(net_options, refused_section_reported) {
  auto cfg = runtime::parse_config(
      "[net.interfaces.eth0]\nmethod = \"static\"\naddress = \"300.1.1.1\"\n", "n.toml");
  ASSERT_TRUE(cfg);
  auto o = actors::net_options_from(*cfg, "/tmp");
  EXPECT_EQ(o.config_error, "net.interfaces.eth0.address: '300.1.1.1' is not an IPv4 address");
  EXPECT_TRUE(o.config.interfaces.empty());
  EXPECT_EQ(o.config.node_name_prefix, "myelin");
}

// A udhcpc that dies is started again, over and over, reported as dhcp =
// restarting; the script and its FIFO are made. (One that cannot be run at
// all is "stopped" with the exec's error, and tried again with the same
// back-off.)
TEST(net_dhcp, dead_udhcpc_restarted) {
  MYELIN_REQUIRE_ROOT();
  // A private network namespace: its loopback is ours to configure.
  ASSERT_EQ(::unshare(CLONE_NEWNET), 0);
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  test::temp_dir state;
  actors::net_options opts;
  opts.state_dir = state.path().string();
  // A udhcpc that starts and dies at once.
  auto dying = state.path() / "dying-udhcpc";
  myelin::test::write_file(dying, "#!/bin/sh\nexit 1\n");
  std::filesystem::permissions(dying, std::filesystem::perms::owner_all);
  opts.config.udhcpc = dying.string();
  opts.config.dhcp_restart_delay = 20ms;
  runtime::interface_config ic;
  ic.name = "lo";
  ic.method = runtime::address_method::dhcp;
  opts.config.interfaces = {ic};
  auto net = actors::net_start(opts)(sys, caf::message{});
  ASSERT_TRUE(net);
  caf::scoped_actor self{sys};
  int restarts = 0;
  self->request(*net, 5s, actors::net_subscribe_atom::value, std::string{"interface/lo/dhcp"})
      .receive([](const actors::net_properties&) {}, [](const caf::error&) {});
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (restarts < 3 && std::chrono::steady_clock::now() < deadline) {
    self->receive(
        [&](actors::net_change_atom, const property_change& c) {
          restarts += c.new_value == "restarting" ? 1 : 0;
        },
        caf::after(100ms) >> [] {});
  }
  EXPECT_GE(restarts, 3);
  EXPECT_TRUE(std::filesystem::exists(state.path() / "net" / "udhcpc-script"));
  EXPECT_TRUE(std::filesystem::is_fifo(state.path() / "net" / "dhcp-events"));
  caf::anon_send_exit(*net, caf::exit_reason::user_shutdown);
}
