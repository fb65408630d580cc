// Two network namespaces joined by a veth pair, and dnsmasq serving DHCP on
// the far end: the stage of the tests of networking and discovery.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <unistd.h>

#include <gtest/gtest.h>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

namespace myelin::test {

inline constexpr const char* far_ip = "10.99.0.1";
inline constexpr const char* near_mac = "02:00:00:99:00:02";

/// Two fresh network namespaces joined by a veth pair; the far end has
/// 10.99.0.1/24 and is up, the near end is down and unconfigured. Both
/// namespaces (and with them the veth pair) are deleted on destruction.
struct netns_pair {
  std::string id = std::to_string(getpid());
  std::string near = "myelin-net-" + id + "-a";
  std::string far = "myelin-net-" + id + "-b";
  std::string near_if = "mn" + id + "a";
  std::string far_if = "mn" + id + "b";
  /// Why the pair could not be made (the test then skips), empty if it was.
  std::string missing;

  netns_pair() {
    auto probe = run("ip netns add " + near + " 2>&1");
    if (probe.exit_code != 0) {
      missing = "network namespaces unavailable: " + probe.output;
      return;
    }
    auto r = run("set -e; ip netns add " + far + "; ip link add " + near_if +
                 " type veth peer name " + far_if + "; ip link set " + near_if + " netns " + near +
                 "; ip link set " + far_if + " netns " + far + "; ip -n " + near +
                 " link set lo up; ip -n " + far + " link set lo up; ip -n " + near + " link set " +
                 near_if + " address " + near_mac + "; ip -n " + far + " addr add " + far_ip +
                 "/24 dev " + far_if + "; ip -n " + far + " link set " + far_if + " up 2>&1");
    if (r.exit_code != 0) {
      missing = "cannot create a veth pair across namespaces: " + r.output;
    }
  }
  ~netns_pair() {
    run("ip netns del " + near + " 2>/dev/null; ip netns del " + far + " 2>/dev/null");
  }
  netns_pair(const netns_pair&) = delete;
  netns_pair& operator=(const netns_pair&) = delete;

  std::string ip_near(const std::string& args) const {
    return run("ip -n " + near + " " + args + " 2>&1").output;
  }
};

#define MYELIN_REQUIRE_NETNS(pair)                                       \
  do {                                                                   \
    MYELIN_REQUIRE_ROOT();                                               \
    if (run("command -v ip dnsmasq udhcpc >/dev/null").exit_code != 0) { \
      GTEST_SKIP() << "ip, dnsmasq or udhcpc is not installed";          \
    }                                                                    \
    if (!(pair).missing.empty()) {                                       \
      GTEST_SKIP() << (pair).missing;                                    \
    }                                                                    \
  } while (false)

/// dnsmasq serving DHCP (and DNS on port 53, the internet check's target)
/// on the far end; `extra` adds options. Killed by pid (SIGKILL) and reaped
/// when destroyed: `ip netns exec` execs it, so the child's pid is dnsmasq's.
inline std::unique_ptr<child_process> start_dnsmasq(const netns_pair& ns, const temp_dir& dir,
                                                    const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{myelin::test::program_path("ip"),
                                "netns",
                                "exec",
                                ns.far,
                                "dnsmasq",
                                "--no-daemon",
                                "--conf-file=/dev/null",
                                "--user=root",
                                "--log-facility=-",
                                "--log-dhcp",
                                "--interface=" + ns.far_if,
                                "--bind-interfaces",
                                "--dhcp-authoritative",
                                "--dhcp-range=10.99.0.50,10.99.0.60,255.255.255.0,2m",
                                "--dhcp-option=3," + std::string{far_ip},
                                "--dhcp-leasefile=" + (dir / "leases").string(),
                                "--pid-file=" + (dir / "dnsmasq.pid").string()};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = std::make_unique<child_process>(argv);
  if (!p->wait_for_line("DHCP, IP range", std::chrono::seconds{10})) {
    ADD_FAILURE() << "dnsmasq did not start:\n" << p->output();
  }
  return p;
}

}  // namespace myelin::test
