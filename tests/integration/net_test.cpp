// OS-level tests of the net service: a pair of network namespaces joined by a
// veth pair, dnsmasq serving DHCP on the far end, the net service (in this
// process, or myelin-boot) on the near end with a real udhcpc and rtnetlink.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"
#include "netns_pair.hpp"

using namespace std::chrono_literals;
using myelin::runtime::property_change;
using myelin::test::bin;
using myelin::test::child_process;
using myelin::test::exit_code_of;
using myelin::test::run;
using myelin::test::temp_dir;
namespace actors = myelin::actors;
namespace runtime = myelin::runtime;

namespace {

using myelin::test::far_ip;
using myelin::test::near_mac;
using myelin::test::netns_pair;
using myelin::test::start_dnsmasq;

/// The absolute path of `ip` (child_process does not search PATH).
/// Stops the service when the test ends, however it ends (an actor system
/// waits for its actors before it can be destroyed).
struct stop_on_exit {
  caf::actor target;
  ~stop_on_exit() {
    if (target) {
      caf::anon_send_exit(target, caf::exit_reason::user_shutdown);
    }
  }
};

/// Moves the calling thread (before any other thread exists) into a named
/// network namespace, and back on destruction.
class in_netns {
 public:
  explicit in_netns(const std::string& name) {
    original_ = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
    ok_ = fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
    if (fd >= 0) {
      ::close(fd);
    }
  }
  ~in_netns() {
    if (original_ >= 0) {
      ::setns(original_, CLONE_NEWNET);
      ::close(original_);
    }
  }
  in_netns(const in_netns&) = delete;
  in_netns& operator=(const in_netns&) = delete;
  bool ok() const { return ok_; }

 private:
  int original_ = -1;
  bool ok_ = false;
};

/// A subscriber's view: the properties as its changes leave them.
struct subscriber_view {
  caf::scoped_actor& self;
  std::map<std::string, std::string> props;
  std::vector<property_change> changes;

  /// Applies changes as they arrive until `pred(props)` holds or `timeout`.
  bool wait(const std::function<bool(const std::map<std::string, std::string>&)>& pred,
            std::chrono::milliseconds timeout = 60s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(props)) {
      if (std::chrono::steady_clock::now() >= deadline) {
        return false;
      }
      self->receive(
          [&](actors::net_change_atom, const property_change& c) {
            changes.push_back(c);
            if (c.new_value.empty()) {
              props.erase(c.name);
            } else {
              props[c.name] = c.new_value;
            }
          },
          caf::after(100ms) >> [] {});
    }
    return true;
  }

  std::string dump() const {
    std::string out;
    for (const auto& [k, v] : props) {
      out += k + " = " + v + "\n";
    }
    return out;
  }
};

bool has_lease_address(const std::string& addresses, std::string* ip = nullptr) {
  std::smatch m;
  if (std::regex_search(addresses, m, std::regex{R"((10\.99\.0\.(5\d|60))/24)"})) {
    if (ip != nullptr) {
      *ip = m[1];
    }
    return true;
  }
  return false;
}

/// The pid of our udhcpc child, or -1.
pid_t udhcpc_child() {
  auto r = run("pgrep -P " + std::to_string(getpid()) + " -x udhcpc");
  return r.exit_code == 0 ? static_cast<pid_t>(std::stol(r.output)) : -1;
}

}  // namespace

// DHCP end to end: udhcpc (supervised by the service) gets a lease from
// dnsmasq, myelin applies it, a subscriber hears of the address, the node
// name and the connection; a dead udhcpc is restarted without losing the
// address; link down/up on the far end is seen as lower_up; a changed lease
// (dnsmasq restarted with a static mapping, then a forced renew) moves the
// node name; the service's end stops udhcpc.
TEST(net, dhcp_lease_link_changes_and_node_name_in_netns) {
  netns_pair ns;
  MYELIN_REQUIRE_NETNS(ns);
  temp_dir dir;
  auto dnsmasq = start_dnsmasq(ns, dir);

  in_netns inside{ns.near};
  ASSERT_TRUE(inside.ok()) << "setns into " << ns.near << " failed";
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  actors::net_options opts;
  opts.state_dir = (dir / "state").string();
  opts.config.node_name_prefix = "dev";
  opts.config.internet_hosts = {{far_ip, 53}};
  opts.config.check_interval = 500ms;
  opts.config.check_timeout = 1000ms;
  opts.config.dhcp_restart_delay = 200ms;
  runtime::interface_config ic;
  ic.name = ns.near_if;
  ic.method = runtime::address_method::dhcp;
  opts.config.interfaces = {ic};
  auto net = actors::net_start(opts)(sys, caf::message{});
  ASSERT_TRUE(net);
  stop_on_exit guard{*net};

  caf::scoped_actor self{sys};
  subscriber_view view{self, {}, {}};
  self->request(*net, 5s, actors::net_subscribe_atom::value, std::string{""})
      .receive([&](const actors::net_properties& p) { view.props = p; },
               [](const caf::error& e) { FAIL() << caf::to_string(e); });
  auto p = "interface/" + ns.near_if + "/";

  // The lease arrives and is applied; node name and connection follow.
  std::string ip;
  ASSERT_TRUE(view.wait([&](const auto& m) {
    return m.count(p + "addresses") != 0 && has_lease_address(m.at(p + "addresses"), &ip) &&
           m.count("node_name") != 0 && m.at("node_name") == "dev@" + ip &&
           m.count(p + "gateway") != 0;
  })) << view.dump()
      << dnsmasq->output();
  EXPECT_EQ(view.props[p + "dhcp"], "bound");
  EXPECT_EQ(view.props[p + "lower_up"], "true");
  EXPECT_EQ(view.props[p + "gateway"], far_ip);
  EXPECT_NE(ns.ip_near("addr show dev " + ns.near_if).find(ip + "/24"), std::string::npos);
  EXPECT_NE(ns.ip_near("route show default").find(std::string{"via "} + far_ip), std::string::npos);
  ASSERT_TRUE(view.wait([&](const auto& m) {
    return m.count("connection") != 0 && m.at("connection") == "internet" &&
           m.at(p + "connection") == "internet";
  })) << view.dump();
  EXPECT_EQ(view.props["available_interfaces"], ns.near_if);

  // udhcpc killed: restarted, and the address is kept meanwhile.
  auto first = udhcpc_child();
  ASSERT_GT(first, 0);
  ::kill(first, SIGKILL);
  ASSERT_TRUE(view.wait([&](const auto&) {
    auto now = udhcpc_child();
    return now > 0 && now != first;
  })) << view.dump();
  ASSERT_TRUE(view.wait([&](const auto& m) {
    return m.at(p + "dhcp") == "bound" || m.at(p + "dhcp") == "renew";
  })) << view.dump();
  bool restarting_seen = false;
  for (const auto& c : view.changes) {
    restarting_seen |= c.name == p + "dhcp" && c.new_value == "restarting";
    EXPECT_FALSE(c.name == "node_name" && c.new_value == "dev@127.0.0.1")
        << "the address was dropped while udhcpc restarted";
  }
  EXPECT_TRUE(restarting_seen);
  EXPECT_EQ(view.props["node_name"], "dev@" + ip);

  // Carrier lost and back, seen as lower_up and the connection.
  run("ip -n " + ns.far + " link set " + ns.far_if + " down");
  ASSERT_TRUE(view.wait([&](const auto& m) {
    return m.at(p + "lower_up") == "false" && m.at(p + "connection") == "disconnected" &&
           m.at("connection") == "disconnected";
  })) << view.dump();
  run("ip -n " + ns.far + " link set " + ns.far_if + " up");
  ASSERT_TRUE(view.wait([&](const auto& m) { return m.at(p + "lower_up") == "true"; }))
      << view.dump();

  // A new lease: dnsmasq now maps our MAC to .77; a forced renew is refused
  // (NAK), udhcpc starts over and is bound to .77; the node name follows.
  dnsmasq.reset();
  dnsmasq = start_dnsmasq(ns, dir, {std::string{"--dhcp-host="} + near_mac + ",10.99.0.77"});
  view.changes.clear();
  caf::error renew_err;
  self->request(*net, 5s, actors::net_renew_atom::value, ns.near_if)
      .receive([] {}, [&](const caf::error& e) { renew_err = e; });
  ASSERT_FALSE(renew_err) << runtime::describe(renew_err);
  ASSERT_TRUE(view.wait([&](const auto& m) {
    return m.count("node_name") != 0 && m.at("node_name") == "dev@10.99.0.77";
  })) << view.dump()
      << dnsmasq->output();
  EXPECT_EQ(view.props[p + "addresses"].find(ip + "/"), std::string::npos) << view.dump();
  EXPECT_NE(view.props[p + "addresses"].find("10.99.0.77/24"), std::string::npos);
  EXPECT_NE(ns.ip_near("addr show dev " + ns.near_if).find("10.99.0.77/24"), std::string::npos);

  // The service's end stops its udhcpc (by pid) and reaps it.
  auto last = udhcpc_child();
  ASSERT_GT(last, 0);
  self->monitor(*net);
  self->send_exit(*net, caf::exit_reason::user_shutdown);
  self->receive([](const caf::down_msg&) {},
                caf::after(20s) >> [] { FAIL() << "net did not stop"; });
  EXPECT_EQ(::kill(last, 0), -1) << "udhcpc " << last << " still runs";
}

// A static configuration through myelin-boot in the near namespace: the link
// comes up with the address and default route (as `ip` shows them), and
// `myelin net IFNAME --json` reports them, with an internet connection
// (a TCP connect to the far end's port 53).
TEST(net, static_config_applied_by_myelin_boot) {
  netns_pair ns;
  MYELIN_REQUIRE_NETNS(ns);
  temp_dir dir;
  // Its DNS port is what the internet check connects to.
  auto dnsmasq = start_dnsmasq(ns, dir);
  myelin::test::write_file(
      dir / "net.toml", "[device]\nname = \"box\"\n[control]\nport = 0\n[state]\ndir = \"" +
                            (dir / "state").string() +
                            "\"\n[kv]\nbackend = \"memory\"\n[net]\ninternet_hosts = [\"" + far_ip +
                            ":53\"]\ncheck_interval_ms = 500\n[net.interfaces." + ns.near_if +
                            "]\nmethod = \"static\"\naddress = \"10.99.0.2\"\nprefix = 24\n"
                            "gateway = \"" +
                            far_ip + "\"\n");
  child_process boot{{myelin::test::program_path("ip"), "netns", "exec", ns.near,
                      bin("myelin-boot"), "--config", (dir / "net.toml").string()}};
  auto ready = boot.wait_for_line("ready in", 20s);
  ASSERT_TRUE(ready) << boot.output();
  auto port = myelin::test::port_of(*ready);
  ASSERT_GT(port, 0) << *ready;
  std::string device = "127.0.0.1:" + std::to_string(port);
  // The net service configures the link after it started (it may log after
  // the ready line): the node name follows once the address is in place.
  const std::string node_line = "node name is box@10.99.0.2";
  if (boot.output().find(node_line) == std::string::npos) {
    EXPECT_TRUE(boot.wait_for_line(node_line, 20s)) << boot.output();
  }
  EXPECT_NE(ns.ip_near("addr show dev " + ns.near_if).find("10.99.0.2/24"), std::string::npos);
  EXPECT_NE(ns.ip_near("link show dev " + ns.near_if).find(",UP"), std::string::npos);
  EXPECT_NE(ns.ip_near("route show default").find(std::string{"via "} + far_ip), std::string::npos);

  auto cli = [&](const std::string& args) {
    return run("ip netns exec " + ns.near + " " + bin("myelin") + " net " + args + " --device " +
               device + " 2>&1");
  };
  nlohmann::json doc;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  do {
    auto r = cli(ns.near_if + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    doc = nlohmann::json::parse(r.output);
  } while (doc["properties"]["connection"] != "internet" &&
           std::chrono::steady_clock::now() < deadline &&
           (std::this_thread::sleep_for(100ms), true));
  EXPECT_EQ(doc["interface"], ns.near_if);
  EXPECT_EQ(doc["properties"]["method"], "static");
  EXPECT_EQ(doc["properties"]["connection"], "internet") << doc.dump();
  EXPECT_EQ(doc["properties"]["addresses"][0], "10.99.0.2/24") << doc.dump();
  auto summary = cli("");
  EXPECT_EQ(summary.exit_code, 0);
  EXPECT_NE(summary.output.find("node name:  box@10.99.0.2"), std::string::npos) << summary.output;
  auto missing = cli("nosuch0");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("no interface 'nosuch0'"), std::string::npos) << missing.output;

  boot.signal(SIGTERM);
  auto status = boot.wait(20s);
  ASSERT_TRUE(status) << boot.output();
  EXPECT_EQ(exit_code_of(*status), 0) << boot.output();
}

// Stopping never waits for the internet check: here its target is routed to
// the far namespace, which does not forward, so the connect would hang for
// the whole check_timeout_ms (10 minutes); SIGTERM still stops the device at
// once (before, a check under way held up the stop, and with it a reboot).
TEST(net, stop_does_not_wait_for_a_hanging_internet_check) {
  netns_pair ns;
  MYELIN_REQUIRE_NETNS(ns);
  temp_dir dir;
  myelin::test::write_file(dir / "net.toml",
                           "[device]\nname = \"box\"\n[control]\nport = 0\n[state]\ndir = \"" +
                               (dir / "state").string() +
                               "\"\n[kv]\nbackend = \"memory\"\n[net]\ninternet_hosts = "
                               "[\"192.0.2.1:53\"]\ncheck_timeout_ms = 600000\n[net.interfaces." +
                               ns.near_if +
                               "]\nmethod = \"static\"\naddress = \"10.99.0.2\"\nprefix = 24\n"
                               "gateway = \"" +
                               far_ip + "\"\n");
  child_process boot{{myelin::test::program_path("ip"), "netns", "exec", ns.near,
                      bin("myelin-boot"), "--config", (dir / "net.toml").string()}};
  ASSERT_TRUE(boot.wait_for_line("ready in", 20s)) << boot.output();
  const std::string node_line = "node name is box@10.99.0.2";
  if (boot.output().find(node_line) == std::string::npos) {
    ASSERT_TRUE(boot.wait_for_line(node_line, 20s)) << boot.output();
  }
  // The check starts on the address change; give it time to be under way.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(boot.output().find("internet reachable"), std::string::npos) << boot.output();
  boot.signal(SIGTERM);
  auto status = boot.wait(20s);
  ASSERT_TRUE(status) << "myelin-boot waited for the internet check:\n" << boot.output();
  EXPECT_EQ(exit_code_of(*status), 0) << boot.output();
  EXPECT_NE(boot.output().find("stopped cleanly"), std::string::npos) << boot.output();
}

// Host mode (config/host.toml): the service observes without configuring,
// and GET /v1/net answers with the status and the properties; bad input is refused.
TEST(net, host_mode_observes_and_answers) {
  myelin::test::booted_device dev;
  ASSERT_GT(dev.port, 0);
  httplib::Client cli("127.0.0.1", dev.port);
  auto res = cli.Get("/v1/net");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto doc = nlohmann::json::parse(res->body);
  EXPECT_EQ(doc["status"], "ok");
  EXPECT_TRUE(doc["configured"].empty());
  EXPECT_EQ(doc["properties"]["interface/lo/type"], "loopback");
  EXPECT_TRUE(doc["properties"]["interface/lo/addresses"].is_array());
  EXPECT_EQ(doc["node_name"].get<std::string>().rfind("myelin-host@", 0), 0U);
  res = cli.Get("/v1/net?prefix=interface/lo");
  ASSERT_TRUE(res);
  doc = nlohmann::json::parse(res->body);
  for (const auto& [name, value] : doc["properties"].items()) {
    EXPECT_EQ(name.rfind("interface/lo/", 0), 0U) << name;
  }
  res = cli.Get("/v1/net/lo");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(nlohmann::json::parse(res->body)["properties"]["state"], "up");
  for (const char* path :
       {"/v1/net/..", "/v1/net/a%20b", "/v1/net/0123456789abcdefgh", "/v1/net?prefix=%01%02"}) {
    res = cli.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 400) << path << " " << res->body;
  }
  res = cli.Get(("/v1/net?prefix=" + std::string(300, 'a')).c_str());
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  res = cli.Get("/v1/net/nosuch0");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
}

// Bad network settings: an unknown method on the command line is refused
// (exit 2) naming the key; an invalid address is reported naming the key
// while the device still boots and answers.
TEST(net, bad_config_names_key) {
  auto r = run(myelin::test::shell_quote(bin("myelin-boot")) + " --config " +
               myelin::test::shell_quote(myelin::test::host_config()) +
               " --set net.interfaces.eth9.method=ppp --check-config 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("net.interfaces.eth9.method"), std::string::npos) << r.output;

  myelin::test::booted_device dev{{"--set", "net.interfaces.eth9.method=static", "--set",
                                   "net.interfaces.eth9.address=10.0.0.300"}};
  ASSERT_GT(dev.port, 0);
  auto out = myelin::test::run_myelin({"net", "--json", "--device", dev.address()});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  auto doc = nlohmann::json::parse(out.output);
  EXPECT_EQ(doc["status"],
            "config error: net.interfaces.eth9.address: '10.0.0.300' is not an IPv4 address");
  EXPECT_TRUE(doc["configured"].empty());
  EXPECT_NE(dev.proc->output().find("net.interfaces.eth9.address"), std::string::npos);
}

namespace {

/// Runs `argv` with socket(AF_NETLINK, ...) failing (EAFNOSUPPORT) under a
/// seccomp filter, output to `log`; returns its pid (the caller kills it).
pid_t spawn_without_netlink(const std::vector<std::string>& argv, const std::string& log) {
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EAFNOSUPPORT & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
      ::_exit(126);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace

// Without rtnetlink (socket(AF_NETLINK) refused by a seccomp filter) the
// service still starts, the device boots, and GET /v1/net says why.
TEST(net, netlink_unavailable_reported) {
#if !defined(__x86_64__)
  GTEST_SKIP() << "the seccomp filter of this test is written for x86_64";
#endif
  temp_dir dir;
  auto log = (dir / "boot.log").string();
  pid_t pid = spawn_without_netlink(
      {bin("myelin-boot"), "--config", myelin::test::host_config(), "--set", "control.port=0",
       "--set", "state.dir=" + (dir / "state").string(), "--set", "apphost.base_dir=/nonexistent"},
      log);
  ASSERT_GT(pid, 0);
  struct killer {
    pid_t pid;
    ~killer() {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } guard{pid};
  std::smatch m;
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!std::regex_search(out, m, std::regex{R"(ready in .*127\.0\.0\.1:(\d+))"}) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    out = myelin::test::read_file(log);
  }
  ASSERT_FALSE(m.empty()) << out;
  httplib::Client cli("127.0.0.1", std::stoi(m[1]));
  auto res = cli.Get("/v1/net");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  auto doc = nlohmann::json::parse(res->body);
  auto status = doc["status"].get<std::string>();
  EXPECT_EQ(status.rfind("unavailable: netlink route socket: ", 0), 0U) << status;
  EXPECT_EQ(doc["properties"]["node_name"], "myelin-host@127.0.0.1") << doc.dump();
  EXPECT_NE(out.find("net: unavailable: "), std::string::npos) << out;
}
