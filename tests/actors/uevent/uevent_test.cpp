// Tests of actors/src/uevent/uevent.cpp: the uevent service in this process, fed by
// real kernel events from veth interfaces created in a private network
// namespace (the test thread's own), with subscriptions, follow requests,
// hostile messages injected through the real socket, coldplug of the PCI
// devices and modprobe batching with a recording fake modprobe (the real one
// would load kernel modules on the test machine).
#include "myelin/actors/uevent.hpp"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/uevent/sysfs_devices.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::actors;
using namespace std::chrono_literals;
using myelin::test::read_file;
using myelin::test::run;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

/// Moves the calling thread into a fresh network namespace; back on destruction.
/// Commands run with run() from this thread are created in it too.
class private_netns {
 public:
  private_netns() {
    original_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (original_ < 0 || ::unshare(CLONE_NEWNET) != 0) {
      error_ = std::string{"unshare(CLONE_NEWNET): "} + std::strerror(errno);
    }
  }
  ~private_netns() {
    if (original_ >= 0) {
      ::setns(original_, CLONE_NEWNET);
      ::close(original_);
    }
  }
  private_netns(const private_netns&) = delete;
  private_netns& operator=(const private_netns&) = delete;

  const std::string& error() const { return error_; }

 private:
  int original_ = -1;
  std::string error_;
};

#define REQUIRE_NETNS(ns)                                                \
  MYELIN_REQUIRE_ROOT();                                                 \
  private_netns ns;                                                      \
  if (!ns.error().empty()) {                                             \
    GTEST_SKIP() << "needs a private network namespace: " << ns.error(); \
  }

/// An actor system with the uevent service; the service stops first.
struct service {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::actor actor;

  explicit service(uevent_options opts) {
    cfg.set("scheduler.max-threads", size_t{2});
    sys = std::make_unique<caf::actor_system>(cfg);
    auto started = uevent_start(std::move(opts))(*sys, caf::make_message());
    if (!started) {
      ADD_FAILURE() << "uevent_start failed: " << sys->render(started.error());
      return;
    }
    actor = *started;
  }
  ~service() {
    if (actor) {
      caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
    }
  }

  template <class T, class... Ts>
  T ask(Ts... xs) {
    caf::scoped_actor self{*sys};
    T out{};
    self->request(actor, 10s, xs...)
        .receive([&](T& x) { out = std::move(x); },
                 [&](caf::error& err) { ADD_FAILURE() << sys->render(err); });
    return out;
  }

  uevent_stats stats() { return ask<uevent_stats>(uevent_stats_atom::value); }

  std::vector<uevent_device> devices(const std::string& prefix) {
    return ask<uevent_snapshot>(uevent_get_atom::value, prefix).devices;
  }
};

/// Polls `condition` until it holds or 20 s pass.
template <class F>
bool eventually(F condition) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

uevent_options test_options() {
  uevent_options o;
  o.rcvbuf = 1 << 20;
  return o;
}

void sh(const std::string& command) {
  auto r = run(command);
  ASSERT_EQ(r.exit_code, 0) << command << ": " << r.output;
}

/// Receives `count` notices (or fewer after 20 s without one) as "action devpath".
std::multiset<std::string> receive_notices(caf::scoped_actor& self, size_t count) {
  std::multiset<std::string> seen;
  bool timed_out = false;
  while (seen.size() < count && !timed_out) {
    self->receive([&](uevent_notice& n) { seen.insert(n.action + " " + n.devpath); },
                  caf::after(std::chrono::seconds{20}) >> [&] { timed_out = true; });
  }
  return seen;
}

std::set<std::string> devpaths(const std::vector<uevent_device>& devices) {
  std::set<std::string> out;
  for (const auto& d : devices) {
    out.insert(d.devpath);
  }
  return out;
}

/// Sends `bytes` to the uevent group from userspace (needs CAP_NET_ADMIN).
void inject(const std::string& bytes) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  to.nl_groups = 1;
  auto n =
      ::sendto(fd, bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  int saved = errno;
  ::close(fd);
  ASSERT_EQ(n, static_cast<ssize_t>(bytes.size())) << std::strerror(saved);
}

}  // namespace

// veth add and delete: the table follows, and subscribers get exactly the events
// under their prefix and subsystem.
TEST(uevent_service, veth_events_reach_table_and_subscribers) {
  REQUIRE_NETNS(ns);
  service svc{test_options()};
  ASSERT_TRUE(svc.stats().available) << svc.stats().unavailable;
  caf::scoped_actor nets{*svc.sys}, va{*svc.sys};
  uint64_t id = 0;
  nets->request(svc.actor, 10s, uevent_subscribe_atom::value, std::string{"/devices/virtual/net"},
                std::string{"net"})
      .receive([&](uint64_t x) { id = x; }, [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  EXPECT_GT(id, 0u);
  va->request(svc.actor, 10s, uevent_subscribe_atom::value, std::string{"/devices/virtual/net/va"},
              std::string{})
      .receive([](uint64_t) {}, [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  EXPECT_EQ(svc.stats().subscribers, 2u);

  sh("ip link add name va type veth peer name vb");
  EXPECT_EQ(receive_notices(nets, 2), (std::multiset<std::string>{"add /devices/virtual/net/va",
                                                                  "add /devices/virtual/net/vb"}));
  // va's subscriber also gets va's queues, never vb.
  auto va_seen = receive_notices(va, 1);
  EXPECT_EQ(va_seen.count("add /devices/virtual/net/va"), 1u);
  ASSERT_TRUE(eventually([&] { return svc.devices("/devices/virtual/net/va").size() >= 2; }));
  auto table = devpaths(svc.devices("/devices/virtual/net"));
  EXPECT_TRUE(table.count("/devices/virtual/net/va") && table.count("/devices/virtual/net/vb"));

  sh("ip link del dev va");
  EXPECT_EQ(receive_notices(nets, 2),
            (std::multiset<std::string>{"remove /devices/virtual/net/va",
                                        "remove /devices/virtual/net/vb"}));
  ASSERT_TRUE(eventually([&] { return svc.devices("/devices/virtual/net").empty(); }));
  auto s = svc.stats();
  EXPECT_EQ(s.malformed, 0u);
  EXPECT_EQ(s.enobufs, 0u);
  EXPECT_GE(s.parsed, 4u);
}

// A rename is a move: the table re-keys the device, subscribers see devpath_old.
TEST(uevent_service, rename_is_a_move) {
  REQUIRE_NETNS(ns);
  service svc{test_options()};
  caf::scoped_actor sub{*svc.sys};
  sub->request(svc.actor, 10s, uevent_subscribe_atom::value, std::string{}, std::string{"net"})
      .receive([](uint64_t) {}, [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  sh("ip link add name ma type veth peer name mb && ip link set dev mb name mc");
  std::string old;
  bool moved = false;
  while (!moved) {
    bool timed_out = false;
    sub->receive(
        [&](uevent_notice& n) {
          if (n.action == "move") {
            moved = true;
            old = n.devpath_old;
            EXPECT_EQ(n.devpath, "/devices/virtual/net/mc");
            EXPECT_EQ(n.properties.at("interface"), "mc");
          }
        },
        caf::after(std::chrono::seconds{20}) >> [&] { timed_out = true; });
    ASSERT_FALSE(timed_out) << "no move event";
  }
  EXPECT_EQ(old, "/devices/virtual/net/mb");
  ASSERT_TRUE(eventually([&] {
    auto t = devpaths(svc.devices("/devices/virtual/net"));
    return t.count("/devices/virtual/net/mc") == 1 && t.count("/devices/virtual/net/mb") == 0;
  }));
  sh("ip link del dev ma");
}

// A subscriber that dies is dropped (monitored); unsubscribe removes one subscription.
TEST(uevent_service, dead_subscriber_dropped) {
  REQUIRE_NETNS(ns);
  service svc{test_options()};
  {
    caf::scoped_actor gone{*svc.sys};
    gone->request(svc.actor, 10s, uevent_subscribe_atom::value, std::string{}, std::string{})
        .receive([](uint64_t) {}, [&](caf::error& e) { FAIL() << svc.sys->render(e); });
    EXPECT_EQ(svc.stats().subscribers, 1u);
  }
  EXPECT_TRUE(eventually([&] { return svc.stats().subscribers == 0; }));
  caf::scoped_actor stays{*svc.sys};
  uint64_t a = 0, b = 0;
  for (auto* id : {&a, &b}) {
    stays->request(svc.actor, 10s, uevent_subscribe_atom::value, std::string{}, std::string{})
        .receive([&](uint64_t x) { *id = x; },
                 [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  }
  EXPECT_NE(a, b);
  stays->request(svc.actor, 10s, uevent_unsubscribe_atom::value, a)
      .receive([] {}, [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  EXPECT_EQ(svc.stats().subscribers, 1u);
  // Unknown ids are ignored.
  stays->request(svc.actor, 10s, uevent_unsubscribe_atom::value, uint64_t{999})
      .receive([] {}, [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  EXPECT_EQ(svc.stats().subscribers, 1u);
}

// A follow request waits for the next event under its prefix, then answers.
TEST(uevent_service, follow_waits_for_events) {
  REQUIRE_NETNS(ns);
  service svc{test_options()};
  caf::scoped_actor self{*svc.sys};
  // Nothing yet: an empty answer after the wait.
  self->request(svc.actor, 10s, uevent_follow_atom::value, UINT64_MAX,
                std::string{"/devices/virtual/net/fa"}, uint32_t{50})
      .receive([](uevent_follow_batch& b) { EXPECT_TRUE(b.events.empty()); },
               [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  auto handle = self->request(svc.actor, 30s, uevent_follow_atom::value, UINT64_MAX,
                              std::string{"/devices/virtual/net/fa"}, uint32_t{20000});
  EXPECT_TRUE(eventually([&] { return svc.stats().followers == 1; }));
  sh("ip link add name fa type veth peer name fb");
  uint64_t next = 0;
  handle.receive(
      [&](uevent_follow_batch& b) {
        ASSERT_FALSE(b.events.empty());
        EXPECT_EQ(b.events.front().devpath, "/devices/virtual/net/fa");
        for (const auto& n : b.events) {
          EXPECT_EQ(n.devpath.rfind("/devices/virtual/net/fa", 0), 0u) << n.devpath;
        }
        next = b.next;
      },
      [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  // From cursor 0 everything kept comes back, fb included.
  self->request(svc.actor, 10s, uevent_follow_atom::value, uint64_t{0}, std::string{}, uint32_t{0})
      .receive(
          [&](uevent_follow_batch& b) {
            EXPECT_GE(b.next, next);
            EXPECT_EQ(b.missed, 0u);
            bool fb = false;
            for (const auto& n : b.events) {
              fb |= n.devpath == "/devices/virtual/net/fb";
            }
            EXPECT_TRUE(fb);
          },
          [&](caf::error& e) { FAIL() << svc.sys->render(e); });
  sh("ip link del dev fa");
}

// Hostile messages through the real socket are counted by reason, never fatal;
// without accept_foreign, messages from processes are ignored, not parsed.
TEST(uevent_service, hostile_messages_counted) {
  REQUIRE_NETNS(ns);
  auto opts = test_options();
  opts.accept_foreign = true;
  service svc{opts};
  std::string nul(1, '\0');
  inject("garbage without separator" + nul);
  inject("add@/devices/x" + nul + "NOEQUALS" + nul);
  inject("add@/devices/../etc" + nul);
  inject("add@/devices/x" + nul + "A=unterminated");
  inject(std::string(20000, 'A'));
  inject("add@/devices/virtual/net/injected" + nul + "ACTION=add" + nul + "SUBSYSTEM=net" + nul);
  ASSERT_TRUE(eventually([&] { return svc.stats().received >= 6; }));
  auto s = svc.stats();
  EXPECT_EQ(s.malformed, 5u);
  EXPECT_EQ(s.parsed, 1u);
  EXPECT_EQ(s.malformed_by_reason["no '@' separator"], 1u);
  EXPECT_EQ(s.malformed_by_reason["bad KEY=VALUE entry"], 1u);
  EXPECT_EQ(s.malformed_by_reason["bad devpath"], 1u);
  EXPECT_EQ(s.malformed_by_reason["not NUL-terminated"], 1u);
  EXPECT_EQ(s.malformed_by_reason["too large"], 1u);
  EXPECT_EQ(svc.devices("/devices/virtual/net/injected").size(), 1u);

  service strict{test_options()};
  inject("add@/devices/virtual/net/spoofed" + nul + "ACTION=add" + nul);
  ASSERT_TRUE(eventually([&] { return strict.stats().received >= 1; }));
  EXPECT_EQ(strict.stats().ignored, 1u);
  EXPECT_EQ(strict.stats().parsed, 0u);
  EXPECT_TRUE(strict.devices("/devices/virtual/net/spoofed").empty());
}

// Disabled: the service still runs and says why it is unavailable.
TEST(uevent_service, disabled_reports_unavailable) {
  auto opts = test_options();
  opts.enabled = false;
  service svc{opts};
  auto s = svc.stats();
  EXPECT_FALSE(s.available);
  EXPECT_EQ(s.unavailable, "disabled (uevent.enabled = false)");
  EXPECT_TRUE(svc.devices("").empty());
}

// Coldplug of the PCI devices (real uevent files, real kernel add events) fills
// the table; their MODALIAS values reach the fake modprobe batched, each once,
// one run at a time.
TEST(uevent_service, coldplug_and_modprobe_batches) {
  REQUIRE_NETNS(ns);
  std::error_code ec;
  // Coldplug makes the kernel announce the PCI devices (and their NICs) to
  // everyone: with udevd running, it would re-run its rules for them.
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
  // A sysfs view whose devices/ is only the PCI tree: coldplug touches nothing else.
  std::filesystem::create_directories(dir / "sys");
  std::filesystem::create_directory_symlink(pci_root, dir / "sys/devices");
  auto calls = dir / "calls";
  auto lock = dir / "lock";
  auto release = dir / "release";
  write_file(dir / "modprobe",
             "#!/bin/sh\n"
             "mkdir " +
                 lock.string() + " 2>/dev/null || echo OVERLAP >> " + calls.string() +
                 "\n"
                 "echo \"$@\" >> " +
                 calls.string() +
                 "\n"
                 // The first run waits until the test saw every coldplug event, so
                 // that everything else must queue up behind it.
                 "while [ ! -e " +
                 release.string() +
                 " ]; do sleep 0.02; done\n"
                 "rmdir " +
                 lock.string() + "\n");
  std::filesystem::permissions(dir / "modprobe", std::filesystem::perms::owner_all);

  auto opts = test_options();
  opts.coldplug = true;
  opts.modprobe = true;
  opts.modprobe_path = (dir / "modprobe").string();
  opts.sysfs = (dir / "sys").string();
  service svc{opts};

  auto pci_prefix = "/devices/" + std::filesystem::path{pci_root}.filename().string();
  // What the table must end up with: every alias sysfs shows under the tree.
  std::set<std::string> aliases;
  for (const auto& [key, props] : myelin::runtime::scan_devices(opts.sysfs)) {
    auto it = props.find("modalias");
    if (it != props.end()) {
      aliases.insert(it->second);
    }
  }
  if (aliases.empty()) {
    GTEST_SKIP() << "no PCI device with a MODALIAS under " << pci_root;
  }
  auto table_aliases = [&] {
    std::set<std::string> seen;
    for (const auto& d : svc.devices(pci_prefix)) {
      auto it = d.properties.find("modalias");
      if (it != d.properties.end()) {
        seen.insert(it->second);
      }
    }
    return seen;
  };
  ASSERT_TRUE(eventually([&] { return table_aliases() == aliases; }));
  EXPECT_GT(svc.stats().coldplug_written, 0u);
  write_file(release, "");
  ASSERT_TRUE(eventually([&] {
    // One snapshot, then the file: runs are counted before the process starts, so
    // a second run can begin between two separate stats() calls.
    auto stats = svc.stats();
    auto text = read_file(calls);
    return static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n')) ==
               stats.modprobe_runs &&
           stats.modprobe_aliases == aliases.size() && !stats.modprobe_last.empty();
  }));
  auto text = read_file(calls);
  EXPECT_EQ(text.find("OVERLAP"), std::string::npos) << text;
  std::multiset<std::string> passed;
  std::istringstream lines{text};
  std::string line;
  size_t runs = 0, largest = 0;
  while (std::getline(lines, line)) {
    ++runs;
    ASSERT_EQ(line.rfind("-a -q -b -- ", 0), 0u) << line;
    std::istringstream words{line.substr(12)};
    std::string w;
    size_t n = 0;
    while (words >> w) {
      passed.insert(w);
      ++n;
    }
    largest = std::max(largest, n);
  }
  EXPECT_EQ(std::set<std::string>(passed.begin(), passed.end()), aliases);
  EXPECT_EQ(passed.size(), aliases.size()) << "an alias was passed twice:\n" << text;
  // The first run blocked until all events were in: at most one more run.
  EXPECT_LE(runs, 2u) << text;
  if (aliases.size() >= 3) {
    EXPECT_GE(largest, 2u) << "no batching:\n" << text;
  }
  EXPECT_EQ(svc.stats().modprobe_failures, 0u);
}

// A flood into a tiny receive buffer overflows it: ENOBUFS is counted, the
// service survives, and a re-scan of sysfs (here a fake one) re-synchronises the
// table and tells subscribers with events marked `rescan`.
TEST(uevent_service, overflow_counted_and_rescanned) {
  REQUIRE_NETNS(ns);
  temp_dir dir;
  std::filesystem::create_directories(dir / "sys/devices/virtual/net/fake0");
  std::filesystem::create_directories(dir / "sys/class/net");
  write_file(dir / "sys/devices/virtual/net/fake0/uevent", "INTERFACE=fake0\nIFINDEX=9\n");
  std::filesystem::create_directory_symlink("../../../../class/net",
                                            dir / "sys/devices/virtual/net/fake0/subsystem");
  auto opts = test_options();
  opts.accept_foreign = true;
  opts.rcvbuf = 4096;
  opts.sysfs = (dir / "sys").string();
  service svc{opts};
  caf::scoped_actor sub{*svc.sys};
  sub->request(svc.actor, 10s, uevent_subscribe_atom::value,
               std::string{"/devices/virtual/net/fake0"}, std::string{})
      .receive([](uint64_t) {}, [&](caf::error& e) { FAIL() << svc.sys->render(e); });

  std::string nul(1, '\0');
  auto message = "add@/devices/virtual/net/flood" + nul + "ACTION=add" + nul + "SUBSYSTEM=net" +
                 nul + "PAD=" + std::string(3000, 'x') + nul;
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
  ASSERT_GE(fd, 0);
  sockaddr_nl to{};
  to.nl_family = AF_NETLINK;
  to.nl_groups = 1;
  // Floods until the reader falls behind at least once (bounded).
  for (int round = 0; round < 200 && svc.stats().enobufs == 0; ++round) {
    for (int i = 0; i < 500; ++i) {
      ::sendto(fd, message.data(), message.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
    }
  }
  ::close(fd);
  ASSERT_TRUE(eventually([&] { return svc.stats().enobufs > 0; })) << "never overflowed";
  ASSERT_TRUE(eventually([&] { return svc.stats().rescans > 0; }));
  auto s = svc.stats();
  EXPECT_TRUE(s.available);
  EXPECT_EQ(s.malformed, 0u);
  auto fake = svc.devices("/devices/virtual/net/fake0");
  ASSERT_EQ(fake.size(), 1u);
  EXPECT_EQ(fake[0].properties.at("interface"), "fake0");
  EXPECT_EQ(fake[0].properties.at("subsystem"), "net");
  bool told = false;
  sub->receive(
      [&](uevent_notice& n) {
        told = n.rescan && n.action == "add" && n.devpath == "/devices/virtual/net/fake0";
      },
      caf::after(std::chrono::seconds{20}) >> [] {});
  EXPECT_TRUE(told);
}

// [uevent] options: `auto` coldplug and modprobe are on only as process 1;
// on and off are obeyed everywhere.
TEST(uevent_options, auto_means_process_one) {
  myelin::runtime::config cfg;
  auto defaults = uevent_options_from(cfg, false);
  EXPECT_TRUE(defaults.enabled);
  EXPECT_EQ(defaults.rcvbuf, 4194304);
  EXPECT_FALSE(defaults.coldplug);
  EXPECT_FALSE(defaults.modprobe);
  EXPECT_EQ(defaults.modprobe_path, "/sbin/modprobe");
  EXPECT_EQ(defaults.sysfs, "/sys");
  auto as_pid1 = uevent_options_from(cfg, true);
  EXPECT_TRUE(as_pid1.coldplug);
  EXPECT_TRUE(as_pid1.modprobe);
  ASSERT_FALSE(myelin::runtime::apply_override(cfg, "uevent.coldplug=off"));
  ASSERT_FALSE(myelin::runtime::apply_override(cfg, "uevent.modprobe=on"));
  ASSERT_FALSE(myelin::runtime::apply_override(cfg, "uevent.modprobe_path=/tmp/fake"));
  EXPECT_FALSE(uevent_options_from(cfg, true).coldplug);
  EXPECT_TRUE(uevent_options_from(cfg, false).modprobe);
  EXPECT_EQ(uevent_options_from(cfg, false).modprobe_path, "/tmp/fake");
  EXPECT_TRUE(myelin::runtime::apply_override(cfg, "uevent.coldplug=maybe"));
  EXPECT_TRUE(myelin::runtime::apply_override(cfg, "uevent.rcvbuf=100"));
}
