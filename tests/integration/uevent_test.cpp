// End to end: a real myelin-boot started with `ip netns exec` in a private
// network namespace (net-class uevents are delivered per namespace), real
// kernel events from veth (and dummy, where the kernel has it) interfaces, read
// back with the myelin CLI run in the same namespace: devices appear and vanish
// in the table and in the follow stream; a burst of hundreds of devices made
// with `ip -batch` loses nothing, or every loss is counted and repaired by a
// re-scan; bad requests are refused; a disabled service does not fail the boot.
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using myelin::test::bin;
using myelin::test::child_process;
using myelin::test::exit_code_of;
using myelin::test::host_config;
using myelin::test::netns_cli;
using myelin::test::netns_device;
using myelin::test::program_path;
using myelin::test::run;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using myelin::test::write_file;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// A private network namespace for these tests.
struct named_netns : myelin::test::named_netns {
  named_netns() : myelin::test::named_netns("myelin-uev") {}
};

/// `myelin uevent --json PREFIX`, parsed.
json table(const named_netns& ns, const netns_device& dev, const std::string& prefix) {
  auto r = netns_cli(ns, {"uevent", "--json", "--device", dev.address(), prefix});
  if (r.exit_code != 0) {
    ADD_FAILURE() << "myelin uevent: " << r.output;
    return json::object();
  }
  auto doc = json::parse(r.output, nullptr, false);
  if (doc.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << r.output;
    return json::object();
  }
  return doc;
}

std::set<std::string> devpaths(const json& doc) {
  std::set<std::string> out;
  for (const auto& d : doc.value("devices", json::array())) {
    out.insert(d.value("devpath", ""));
  }
  return out;
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

#define REQUIRE_NETNS(ns)                                       \
  MYELIN_REQUIRE_ROOT();                                        \
  if (program_path("ip").empty()) {                             \
    GTEST_SKIP() << "needs ip (iproute2)";                      \
  }                                                             \
  named_netns ns;                                               \
  if (!ns.error().empty()) {                                    \
    GTEST_SKIP() << "needs network namespaces: " << ns.error(); \
  }

/// The follow stream from event 0 as printed by `myelin uevent --follow --json`:
/// `count` events.
std::vector<json> follow_from_start(const named_netns& ns, const netns_device& dev, uint64_t count,
                                    const std::string& prefix = {}) {
  std::vector<std::string> args{
      "uevent",   "--follow",   "--json", "--since", "0", "--count", std::to_string(count),
      "--device", dev.address()};
  if (!prefix.empty()) {
    args.push_back(prefix);
  }
  auto r = netns_cli(ns, args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<json> out;
  std::istringstream lines{r.output};
  for (std::string line; std::getline(lines, line);) {
    auto doc = json::parse(line, nullptr, false);
    if (!doc.is_discarded()) {
      out.push_back(doc);
    }
  }
  return out;
}

}  // namespace

// A veth pair appears in the table (with its properties) and in the follow
// stream, and vanishes from the table when deleted.
TEST(uevent, veth_appears_and_vanishes) {
  REQUIRE_NETNS(ns);
  netns_device dev{ns};
  ASSERT_GT(dev.port, 0);
  auto status = netns_cli(ns, {"uevent", "--device", dev.address()});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("devices; "), std::string::npos) << status.output;

  auto r = ns.ip("link add name ua type veth peer name ub");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(eventually([&] {
    auto t = devpaths(table(ns, dev, "/devices/virtual/net"));
    return t.count("/devices/virtual/net/ua") == 1 && t.count("/devices/virtual/net/ub") == 1;
  }));
  auto ua = table(ns, dev, "/devices/virtual/net/ua");
  ASSERT_FALSE(ua["devices"].empty());
  EXPECT_EQ(ua["devices"][0]["devpath"], "/devices/virtual/net/ua");
  EXPECT_EQ(ua["devices"][0]["properties"]["interface"], "ua");
  EXPECT_EQ(ua["devices"][0]["properties"]["subsystem"], "net");
  EXPECT_TRUE(ua["stats"]["available"].get<bool>());

  auto events = follow_from_start(ns, dev, 1, "/devices/virtual/net/ub");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["action"], "add");
  EXPECT_EQ(events[0]["devpath"], "/devices/virtual/net/ub");

  r = ns.ip("link del dev ua");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(
      eventually([&] { return devpaths(table(ns, dev, "/devices/virtual/net/u")).empty(); }));
  auto gone = table(ns, dev, "/devices/virtual/net");
  EXPECT_EQ(devpaths(gone).count("/devices/virtual/net/ua"), 0u);
  EXPECT_EQ(devpaths(gone).count("/devices/virtual/net/ub"), 0u);
  EXPECT_EQ(gone["stats"]["malformed"], 0);
}

// A dummy interface appears and vanishes (skipped where the kernel has no dummy driver).
TEST(uevent, dummy_appears_and_vanishes) {
  REQUIRE_NETNS(ns);
  netns_device dev{ns};
  ASSERT_GT(dev.port, 0);
  auto r = ns.ip("link add name dm0 type dummy");
  if (r.exit_code != 0) {
    GTEST_SKIP() << "the kernel cannot make dummy interfaces (CONFIG_DUMMY): " << r.output;
  }
  ASSERT_TRUE(
      eventually([&] { return devpaths(table(ns, dev, "/devices/virtual/net/dm0")).size() >= 1; }));
  ASSERT_EQ(ns.ip("link del dev dm0").exit_code, 0);
  ASSERT_TRUE(
      eventually([&] { return devpaths(table(ns, dev, "/devices/virtual/net/dm0")).empty(); }));
}

// 300 veth pairs made by one `ip -batch`, then deleted by another: every device
// shows up in the table and its add event in the stream, unless the socket
// overflowed — then the overflow is counted and a re-scan fills the table. After
// the delete nothing is left either way.
TEST(uevent, burst_nothing_lost_or_counted) {
  REQUIRE_NETNS(ns);
  netns_device dev{ns};
  ASSERT_GT(dev.port, 0);
  constexpr int pairs = 300;
  temp_dir dir;
  std::string add, del;
  std::set<std::string> expected;
  for (int i = 0; i < pairs; ++i) {
    add += "link add name ba" + std::to_string(i) + " type veth peer name bb" + std::to_string(i) +
           "\n";
    del += "link del dev ba" + std::to_string(i) + "\n";
    expected.insert("/devices/virtual/net/ba" + std::to_string(i));
    expected.insert("/devices/virtual/net/bb" + std::to_string(i));
  }
  write_file(dir / "add", add);
  write_file(dir / "del", del);
  // A follower started before the burst, from the cursor of now.
  auto before = table(ns, dev, "/devices/virtual/net/none")["stats"]["cursor"].get<uint64_t>();
  child_process follower({program_path("ip"), "netns", "exec", ns.name(), bin("myelin"), "uevent",
                          "--follow", "--json", "--since", std::to_string(before), "--device",
                          dev.address(), "/devices/virtual/net"});
  auto r = ns.ip("-batch " + (dir / "add").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;

  auto in_table = [&] {
    std::set<std::string> found;
    auto doc = table(ns, dev, "/devices/virtual/net");
    for (const auto& d : doc["devices"]) {
      auto p = d.value("devpath", "");
      if (expected.count(p) != 0) {
        found.insert(p);
      }
    }
    return found;
  };
  ASSERT_TRUE(eventually([&] { return in_table() == expected; }, 60s))
      << in_table().size() << " of " << expected.size() << " devices in the table";
  auto stats = table(ns, dev, "/devices/virtual/net/none")["stats"];
  EXPECT_EQ(stats["malformed"], 0);
  auto enobufs = stats["enobufs"].get<uint64_t>();
  std::set<std::string> announced;
  auto read_announced = [&] {
    follower.wait_for_line("\n", 100ms);  // reads whatever arrived
    announced.clear();
    std::istringstream lines{follower.output()};
    for (std::string line; std::getline(lines, line);) {
      auto ev = json::parse(line, nullptr, false);
      if (!ev.is_discarded() && ev.value("action", "") == "add" &&
          expected.count(ev.value("devpath", "")) != 0) {
        announced.insert(ev.value("devpath", ""));
      }
    }
    return announced == expected;
  };
  eventually(read_announced, 60s);
  if (enobufs == 0) {
    EXPECT_EQ(announced.size(), expected.size()) << "events lost without an overflow being counted";
  } else {
    // Lost events are counted, and the re-scan announced the devices they hid.
    EXPECT_GT(stats["rescans"].get<uint64_t>(), 0u);
    EXPECT_EQ(announced.size(), expected.size())
        << "a lost device was neither announced nor re-scanned";
  }
  std::cout << "burst of " << expected.size() << " devices: " << stats["received"]
            << " messages, enobufs " << enobufs << ", rcvbuf " << stats["rcvbuf"] << "\n";

  r = ns.ip("-batch " + (dir / "del").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_TRUE(eventually([&] { return in_table().empty(); }, 60s))
      << in_table().size() << " devices left in the table";
}

// Bad prefixes and parameters are refused with 400 and a reason; the CLI exits 1.
TEST(uevent, bad_requests_refused) {
  REQUIRE_NETNS(ns);
  netns_device dev{ns};
  ASSERT_GT(dev.port, 0);
  auto r = netns_cli(ns, {"uevent", "--device", dev.address(), "/devices/../etc"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("prefix must be a devpath"), std::string::npos) << r.output;

  // Raw HTTP from a thread that joins the namespace.
  std::vector<std::pair<std::string, int>> answers;
  std::thread client([&] {
    int fd = ::open(("/var/run/netns/" + ns.name()).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      return;
    }
    ::close(fd);
    httplib::Client http("127.0.0.1", dev.port);
    http.set_read_timeout(30s);
    for (const char* path :
         {"/v1/uevent?prefix=relative", "/v1/uevent?prefix=%2Fdevices%2F%2Fx",
          "/v1/uevent/follow?after=abc", "/v1/uevent/follow?after=-1",
          "/v1/uevent/follow?wait_ms=99999999", "/v1/uevent/follow?after=99999999999999999999999",
          "/v1/uevent/follow?wait_ms=0", "/v1/uevent/stats"}) {
      auto res = http.Get(path);
      answers.emplace_back(path, res ? res->status : -1);
    }
  });
  client.join();
  ASSERT_EQ(answers.size(), 8u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(answers[i].second, 400) << answers[i].first;
  }
  EXPECT_EQ(answers[6].second, 200) << answers[6].first;
  EXPECT_EQ(answers[7].second, 200) << answers[7].first;
}

// uevent.enabled = false: the boot succeeds and the service says it is unavailable.
TEST(uevent, disabled_service_does_not_fail_boot) {
  REQUIRE_NETNS(ns);
  netns_device dev{ns, {"--set", "uevent.enabled=false"}};
  ASSERT_GT(dev.port, 0);
  EXPECT_NE(dev.proc->output().find("uevent: unavailable: disabled"), std::string::npos)
      << dev.proc->output();
  auto r = netns_cli(ns, {"uevent", "--device", dev.address()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("uevent unavailable: disabled (uevent.enabled = false)"),
            std::string::npos)
      << r.output;
}

// The [uevent] keys end to end: coldplug of the PCI devices (a sysfs view of
// only that tree) and modprobe through a recording fake (the real modprobe
// would load modules here); the stats over HTTP show the runs.
TEST(uevent, coldplug_and_modprobe_configured) {
  REQUIRE_NETNS(ns);
  std::error_code ec;
  if (std::filesystem::exists("/run/udev/control", ec)) {
    GTEST_SKIP() << "udevd runs here (/run/udev/control): coldplugging the machine's PCI devices "
                    "would make it re-run its rules";
  }
  std::string pci_root;
  for (const auto& e : std::filesystem::directory_iterator{"/sys/devices", ec}) {
    if (e.path().filename().string().rfind("pci", 0) == 0) {
      pci_root = e.path().string();
      break;
    }
  }
  if (pci_root.empty()) {
    GTEST_SKIP() << "no PCI bus in /sys/devices to coldplug";
  }
  temp_dir dir;
  std::filesystem::create_directories(dir / "sys");
  std::filesystem::create_directory_symlink(pci_root, dir / "sys/devices");
  write_file(dir / "modprobe", "#!/bin/sh\necho \"$@\" >> " + (dir / "calls").string() + "\n");
  std::filesystem::permissions(dir / "modprobe", std::filesystem::perms::owner_all);
  netns_device dev{ns,
                   {"--set", "uevent.coldplug=on", "--set", "uevent.modprobe=on", "--set",
                    "uevent.modprobe_path=" + (dir / "modprobe").string(), "--set",
                    "uevent.sysfs=" + (dir / "sys").string()}};
  ASSERT_GT(dev.port, 0);
  EXPECT_NE(dev.proc->output().find("coldplug, modprobe"), std::string::npos) << dev.proc->output();
  json stats;
  ASSERT_TRUE(eventually([&] {
    stats = table(ns, dev, "/devices/none")["stats"];
    return stats.value("coldplug_written", 0) > 0 && stats.value("modprobe_runs", 0) > 0 &&
           !stats.value("modprobe_last", std::string{}).empty();
  })) << stats.dump();
  EXPECT_EQ(stats["modprobe_failures"], 0);
  // Every MODALIAS in the table reaches modprobe (the last batch may still be
  // on its way when the first run has ended).
  auto pci_prefix = "/devices/" + std::filesystem::path{pci_root}.filename().string();
  std::string missing;
  EXPECT_TRUE(eventually([&] {
    auto calls = myelin::test::read_file(dir / "calls");
    auto pci = table(ns, dev, pci_prefix);
    missing.clear();
    for (const auto& d : pci["devices"]) {
      if (d["properties"].contains("modalias")) {
        auto alias = d["properties"]["modalias"].get<std::string>();
        if (calls.find(alias) == std::string::npos) {
          missing += alias + " ";
        }
      }
    }
    return calls.rfind("-a -q -b -- ", 0) == 0 && missing.empty();
  })) << "not passed to modprobe: "
      << missing;
}
