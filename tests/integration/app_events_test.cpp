// End to end: an app (tests/integration/modules/subscriber.cpp) in its own
// myelin-apphost subscribes to the uevent and net services through the SDK
// (ctx.uevent(), ctx.net()); a real myelin-boot runs with `ip netns exec` in a
// private network namespace, a veth pair made there produces real kernel
// events and rtnetlink changes, and the app reports what its actor received
// through `myelin call`. Subscriptions end with the app actor and with the app
// host (the uevent service's subscriber count goes back).
#include <dirent.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using myelin::test::bin;
using myelin::test::child_process;
using myelin::test::host_config;
using myelin::test::netns_cli;
using myelin::test::run;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// A private network namespace for these tests.
struct private_netns : myelin::test::named_netns {
  private_netns() : myelin::test::named_netns("myelin-appev") {}
};

/// myelin-boot in `ns` with only the subscriber app.
struct subscriber_device : myelin::test::netns_device {
  explicit subscriber_device(const private_netns& ns, std::vector<std::string> extra = {})
      : netns_device(ns, with_subscriber(std::move(extra))) {}

  static std::vector<std::string> with_subscriber(std::vector<std::string> extra) {
    extra.insert(extra.begin(),
                 {"--set", std::string{"apps.subscriber.module="} + MYELIN_TEST_APPS_DIR +
                               "/subscriber/libsubscriber.so"});
    return extra;
  }
};

/// `myelin call ADDRESS subscriber ARGS...`.
myelin::test::command_result call(const private_netns& ns, const subscriber_device& dev,
                                  std::vector<std::string> args) {
  args.insert(args.begin(), {"call", "--device", dev.address(), "subscriber"});
  return netns_cli(ns, args);
}

/// The uevent service's subscriber count, from `myelin uevent --json`.
int64_t uevent_subscribers(const private_netns& ns, const subscriber_device& dev) {
  auto r = netns_cli(ns, {"uevent", "--json", "--device", dev.address(), "/nonexistent"});
  auto doc = json::parse(r.output, nullptr, false);
  if (r.exit_code != 0 || doc.is_discarded()) {
    return -1;
  }
  return doc["stats"].value("subscribers", int64_t{-1});
}

template <class F>
bool eventually(F condition, std::chrono::seconds limit = 30s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

/// The pid of the myelin-apphost child of `parent`, or -1.
pid_t apphost_of(pid_t parent) {
  for (const auto& entry : std::filesystem::directory_iterator{"/proc"}) {
    std::ifstream in{entry.path() / "stat"};
    std::string stat;
    std::getline(in, stat);
    auto close = stat.rfind(')');
    if (close == std::string::npos || stat.find("(myelin-apphost)") == std::string::npos) {
      continue;
    }
    std::istringstream rest{stat.substr(close + 2)};
    std::string state;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) {
      return static_cast<pid_t>(std::stol(entry.path().filename().string()));
    }
  }
  return -1;
}

/// A running subscriber app (waits for its commands to answer).
bool app_ready(const private_netns& ns, const subscriber_device& dev) {
  return eventually([&] { return call(ns, dev, {"ustats"}).exit_code == 0; });
}

#define REQUIRE_PRIVATE_NETNS(ns)                               \
  MYELIN_REQUIRE_ROOT();                                        \
  if (myelin::test::program_path("ip").empty()) {               \
    GTEST_SKIP() << "needs ip (iproute2)";                      \
  }                                                             \
  private_netns ns;                                             \
  if (!ns.error().empty()) {                                    \
    GTEST_SKIP() << "needs network namespaces: " << ns.error(); \
  }

}  // namespace

// An app actor subscribed to the `net` subsystem receives the add events of a
// veth pair made in the namespace, and only events of that subsystem.
TEST(app_events, uevent_subscription_sees_veth_add) {
  REQUIRE_PRIVATE_NETNS(ns);
  subscriber_device dev{ns};
  ASSERT_FALSE(dev.address().empty());
  ASSERT_TRUE(app_ready(ns, dev));
  auto sub = call(ns, dev, {"usub", "net"});
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  auto r = run("ip -n " + ns.name() + " link add name sva type veth peer name svb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string seen;
  EXPECT_TRUE(eventually([&] {
    seen = call(ns, dev, {"uevents"}).output;
    return seen.find("add /devices/virtual/net/sva net") != std::string::npos &&
           seen.find("add /devices/virtual/net/svb net") != std::string::npos;
  })) << seen;
  for (std::istringstream lines{seen}; !lines.eof();) {
    std::string line;
    std::getline(lines, line);
    if (!line.empty()) {
      EXPECT_EQ(line.substr(line.size() - 4), " net") << line;
    }
  }
}

// A net subscription gets the current values and then the changes of a veth
// made in the namespace: its interface/<veth>/... properties appear.
TEST(app_events, net_subscription_sees_veth_properties) {
  REQUIRE_PRIVATE_NETNS(ns);
  subscriber_device dev{ns};
  ASSERT_FALSE(dev.address().empty());
  ASSERT_TRUE(app_ready(ns, dev));
  auto sub = call(ns, dev, {"nsub", "interface/"});
  ASSERT_EQ(sub.exit_code, 0) << sub.output;
  // lo is already there: the current values came with the subscription.
  auto props = call(ns, dev, {"nprops"});
  EXPECT_NE(props.output.find("interface/lo/"), std::string::npos) << props.output;
  auto r = run("ip -n " + ns.name() + " link add name snva type veth peer name snvb");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(eventually([&] {
    props = call(ns, dev, {"nprops"});
    return props.output.find("interface/snva/type=") != std::string::npos &&
           props.output.find("interface/snvb/present=true") != std::string::npos;
  })) << props.output;
  // A change after the subscription: the link goes up.
  r = run("ip -n " + ns.name() + " link set snva up");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(eventually([&] {
    props = call(ns, dev, {"nprops"});
    return props.output.find("interface/snva/state=") != std::string::npos &&
           props.output.find("interface/snva/state=down") == std::string::npos;
  })) << props.output;
}

// The subscriptions of an app actor that ends, and of an app host that is
// killed, are dropped: the uevent service's subscriber count goes back.
TEST(app_events, dead_subscribers_are_dropped) {
  REQUIRE_PRIVATE_NETNS(ns);
  subscriber_device dev{ns};
  ASSERT_FALSE(dev.address().empty());
  ASSERT_TRUE(app_ready(ns, dev));
  auto before = uevent_subscribers(ns, dev);
  ASSERT_GE(before, 0);
  ASSERT_EQ(call(ns, dev, {"usub", "net"}).exit_code, 0);
  ASSERT_EQ(call(ns, dev, {"usub", "block"}).exit_code, 0);
  EXPECT_EQ(uevent_subscribers(ns, dev), before + 2);
  // The same count as the app sees it through a plain request.
  EXPECT_EQ(call(ns, dev, {"ustats"}).output, std::to_string(before + 2) + "\n");

  // The actor ends (its supervisor restarts it): its subscriptions go.
  ASSERT_EQ(call(ns, dev, {"drop"}).exit_code, 0);
  EXPECT_TRUE(eventually([&] { return uevent_subscribers(ns, dev) == before; }));

  // Subscribed again, then the whole app host is killed.
  ASSERT_TRUE(eventually([&] { return call(ns, dev, {"usub", "net"}).exit_code == 0; }));
  EXPECT_EQ(uevent_subscribers(ns, dev), before + 1);
  auto host = apphost_of(dev.proc->pid());
  ASSERT_GT(host, 0);
  ASSERT_EQ(::kill(host, SIGKILL), 0);
  EXPECT_TRUE(eventually([&] { return uevent_subscribers(ns, dev) == before; }));
}

// Malformed subscriptions and requests not open to apps are refused with an
// error, leave no subscriber behind and do not disturb the app.
TEST(app_events, hostile_requests_are_refused) {
  REQUIRE_PRIVATE_NETNS(ns);
  subscriber_device dev{ns};
  ASSERT_FALSE(dev.address().empty());
  ASSERT_TRUE(app_ready(ns, dev));
  auto before = uevent_subscribers(ns, dev);
  auto r = call(ns, dev, {"bad"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<std::string> lines;
  for (std::istringstream in{r.output}; !in.eof();) {
    std::string line;
    std::getline(in, line);
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  ASSERT_EQ(lines.size(), 5u) << r.output;
  EXPECT_NE(lines[0].find("malformed subscription request"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("malformed subscription request"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("not available to apps"), std::string::npos) << lines[2];
  EXPECT_NE(lines[3].find("not available to apps"), std::string::npos) << lines[3];
  EXPECT_NE(lines[4].find("malformed service request"), std::string::npos) << lines[4];
  EXPECT_EQ(uevent_subscribers(ns, dev), before);
  // Still working: a real subscription afterwards.
  EXPECT_EQ(call(ns, dev, {"usub", "net"}).exit_code, 0);
  EXPECT_EQ(uevent_subscribers(ns, dev), before + 1);
}

// An app host that stops reading its link (SIGSTOP) does not hold up the
// services: its events are dropped and the apps log says so; once it reads
// again it gets events again, and the services kept working meanwhile.
TEST(app_events, stopped_app_gets_events_dropped) {
  REQUIRE_PRIVATE_NETNS(ns);
  subscriber_device dev{ns, {"--set", "apphost.heartbeat_timeout_ms=600000"}};
  ASSERT_FALSE(dev.address().empty());
  ASSERT_TRUE(app_ready(ns, dev));
  ASSERT_EQ(call(ns, dev, {"usub"}).exit_code, 0);
  ASSERT_EQ(call(ns, dev, {"nsub", "interface/"}).exit_code, 0);
  auto host = apphost_of(dev.proc->pid());
  ASSERT_GT(host, 0);
  ASSERT_EQ(::kill(host, SIGSTOP), 0);
  // Resumed however the test ends.
  std::shared_ptr<void> resume{nullptr, [host](void*) { ::kill(host, SIGCONT); }};
  // Thousands of events: far more than the socket and the 1 MiB backlog hold.
  std::string batch;
  for (int i = 0; i < 800; ++i) {
    batch += "link add name sd" + std::to_string(i) + "a type veth peer name sd" +
             std::to_string(i) + "b\n";
  }
  temp_dir tmp;
  myelin::test::write_file(tmp.path() / "batch", batch);
  auto r = run("ip -n " + ns.name() + " -batch " + (tmp.path() / "batch").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(dev.proc->wait_for_line("dropping its uevent/net events", 60s)) << dev.proc->output();
  // The services still answer while the app is stopped.
  EXPECT_GE(uevent_subscribers(ns, dev), 1);
  ::kill(host, SIGCONT);
  // Reading again: once its backlog has drained, later events arrive again
  // (one new interface per try: those made while it drains are dropped too).
  std::string seen;
  int made = 0;
  EXPECT_TRUE(eventually(
      [&] {
        auto n = std::to_string(made++);
        run("ip -n " + ns.name() + " link add name sdl" + n + "a type veth peer name sdl" + n +
            "b");
        seen = call(ns, dev, {"uevents"}).output;
        return seen.find("add /devices/virtual/net/sdl") != std::string::npos;
      },
      60s))
      << seen.size();
  EXPECT_TRUE(dev.proc->wait_for_line("uevent/net events while its host did not keep up", 30s));
}
