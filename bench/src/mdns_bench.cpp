// Benchmark of discovery: resolving <name>.local from the laptop's side, a
// device (myelin-boot, mdns on) in one network namespace and the querier in
// another, joined by a veth pair. Figures:
//   mdns_resolve_ms         runtime::mdns::resolve (what --device NAME.local
//                           does): the query to the group, the first answer
//   mdns_unicast_floor_ms   the same question sent unicast to the device's
//                           port 5353 and its answer read: the responder and
//                           the link without multicast, the floor
//   cli_status_by_name_ms / cli_status_by_address_ms
//                           `myelin status --device testdev.local` against
//                           `--device ADDRESS:PORT`: what the name costs a user
// Needs root (network namespaces).
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/mdns/dns_message.hpp"
#include "myelin/runtime/mdns/mdns_socket.hpp"

namespace myelin::bench {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
namespace dns = runtime::dns;
namespace mdns = runtime::mdns;

double ms_since(steady::time_point t0) {
  return std::chrono::duration<double, std::milli>(steady::now() - t0).count();
}

/// The namespaces and the veth pair; deleted at the end.
struct lan {
  std::string id = std::to_string(getpid());
  std::string dev = "myelin-mb-" + id + "-d";
  std::string lap = "myelin-mb-" + id + "-l";
  bool ok = false;
  lan() {
    auto cmd = "set -e; ip netns add " + dev + "; ip netns add " + lap + "; ip link add mb" + id +
               "d type veth peer name mb" + id + "l; ip link set mb" + id + "d netns " + dev +
               "; ip link set mb" + id + "l netns " + lap + "; ip -n " + dev +
               " link set lo up; ip -n " + lap + " addr add 10.97.0.1/24 dev mb" + id +
               "l; ip -n " + lap + " link set mb" + id + "l up";
    ok = std::system(cmd.c_str()) == 0;
  }
  ~lan() {
    auto cmd = "ip netns del " + dev + " 2>/dev/null; ip netns del " + lap + " 2>/dev/null";
    [[maybe_unused]] int rc = std::system(cmd.c_str());
  }
};

/// Moves the calling thread into a named namespace (-1 fd: back to `orig`).
bool enter(const std::string& name) {
  int fd = ::open(("/run/netns/" + name).c_str(), O_RDONLY | O_CLOEXEC);
  bool ok = fd >= 0 && ::setns(fd, CLONE_NEWNET) == 0;
  if (fd >= 0) {
    ::close(fd);
  }
  return ok;
}

/// One legacy unicast A query to ip:5353, its answer awaited: ms, or -1.
double unicast_query_ms(const std::string& ip) {
  dns::message q;
  q.id = 4242;
  dns::question a;
  a.name = "testdev.local";
  a.type = dns::rr::a;
  q.questions.push_back(a);
  auto bytes = dns::serialize(q);
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(5353);
  ::inet_pton(AF_INET, ip.c_str(), &to.sin_addr);
  auto t0 = steady::now();
  ::sendto(fd, bytes->data(), bytes->size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to));
  pollfd p{fd, POLLIN, 0};
  double ms = -1;
  if (::poll(&p, 1, 2000) == 1) {
    uint8_t buf[2048];
    if (::recv(fd, buf, sizeof(buf), 0) > 0) {
      ms = ms_since(t0);
    }
  }
  ::close(fd);
  return ms;
}

double cli_ms(const std::string& device) {
  auto cmd = bin_dir() + "/myelin status --device " + device + " >/dev/null 2>&1";
  auto t0 = steady::now();
  if (std::system(cmd.c_str()) != 0) {
    return -1;
  }
  return ms_since(t0);
}

int mdns_scenario(const std::vector<std::string>& args) {
  int runs = args.empty() ? 20 : std::stoi(args[0]);
  if (geteuid() != 0) {
    std::cerr << "myelin-bench mdns: needs root (network namespaces)\n";
    return 1;
  }
  lan net;
  if (!net.ok) {
    std::cerr << "myelin-bench mdns: cannot create the network namespaces\n";
    return 1;
  }
  int orig = ::open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (!enter(net.dev)) {
    std::cerr << "myelin-bench mdns: setns failed\n";
    return 1;
  }
  auto ifname = "mb" + net.id + "d";
  // Started inside the device's namespace: the child inherits it.
  device dev{{"--set", "control.address=0.0.0.0",
              "--set", "control.allow_unauthenticated=true",
              "--set", "control.port=4848",
              "--set", "net.interfaces." + ifname + ".method=static",
              "--set", "net.interfaces." + ifname + ".address=10.97.0.2",
              "--set", "mdns.enabled=on",
              "--set", "mdns.hostname=testdev",
              "--set", "apps.hello.enabled=false",
              "--set", "apps.ticker.enabled=false",
              "--set", "apps.fault.enabled=false"}};
  // The announcement's line comes first: mdns is a core service.
  bool announced = dev.wait_for("mdns: announcing testdev.local", 20s).has_value();
  bool ready = announced && dev.wait_for("ready in", 20s).has_value();
  if (!enter(net.lap) || !ready || !announced) {
    std::cerr << "myelin-bench mdns: the device did not get ready\n" << dev.rest(500ms);
    ::setns(orig, CLONE_NEWNET);
    return 1;
  }
  // The static address comes from the net service: wait until it answers.
  mdns::query_options opts;
  opts.wait = 2000ms;
  auto until = steady::now() + 20s;
  while (!mdns::resolve("testdev.local", opts) && steady::now() < until) {
    dev.drain();
  }
  std::vector<double> resolve;
  std::vector<double> floor;
  std::vector<double> by_name;
  std::vector<double> by_address;
  for (int i = 0; i < runs; ++i) {
    dev.drain();
    auto t0 = steady::now();
    auto found = mdns::resolve("testdev.local", opts);
    if (!found) {
      std::cerr << "myelin-bench mdns: " << runtime::describe(found.error()) << "\n";
      ::setns(orig, CLONE_NEWNET);
      return 1;
    }
    resolve.push_back(ms_since(t0));
    floor.push_back(unicast_query_ms("10.97.0.2"));
    by_name.push_back(cli_ms("testdev.local"));
    by_address.push_back(cli_ms("10.97.0.2:4848"));
  }
  ::setns(orig, CLONE_NEWNET);
  ::close(orig);
  dev.stop();
  result("mdns_resolve_ms", median(resolve), "ms");
  result("mdns_unicast_floor_ms", median(floor), "ms");
  result("cli_status_by_name_ms", median(by_name), "ms");
  result("cli_status_by_address_ms", median(by_address), "ms");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("mdns",
                      "resolving <name>.local by multicast DNS from another network namespace, "
                      "against a unicast query to the responder (floor) and the CLI by name vs "
                      "by address; arg: runs (20); needs root",
                      mdns_scenario);

}  // namespace myelin::bench
