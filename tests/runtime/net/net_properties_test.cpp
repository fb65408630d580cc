// Tests of runtime/src/net/net_properties.cpp and connectivity.cpp: properties,
// connection levels and the node name computed from a snapshot.
#include "myelin/runtime/net/net_properties.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "myelin/runtime/net/connectivity.hpp"

using namespace myelin::runtime;

namespace {

link_state make_link(const std::string& name, bool up, bool carrier, std::vector<std::string> v4,
                     std::string type = "ethernet") {
  link_state l;
  l.name = name;
  l.type = std::move(type);
  l.admin_up = up;
  l.lower_up = carrier;
  for (const auto& a : v4) {
    l.addresses.push_back(a + "/24");
  }
  l.ipv4 = std::move(v4);
  l.mac_address = "02:00:00:00:00:01";
  return l;
}

net_snapshot snapshot_of(std::vector<link_state> links) {
  net_snapshot s;
  s.links = std::move(links);
  return s;
}

/// A TCP socket listening on the loopback address (port chosen by the kernel).
struct loopback_listener {
  int fd = -1;
  uint16_t port = 0;
  explicit loopback_listener(int backlog, int family = AF_INET) {
    fd = ::socket(family, SOCK_STREAM, 0);
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (family == AF_INET6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_addr = in6addr_loopback;
      len = sizeof(sockaddr_in6);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof(sockaddr_in);
    }
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len) != 0 ||
        ::listen(fd, backlog) != 0) {
      close();
      return;
    }
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    port = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port
                                    : reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  }
  ~loopback_listener() { close(); }
  loopback_listener(const loopback_listener&) = delete;
  loopback_listener& operator=(const loopback_listener&) = delete;
  void close() {
    if (fd >= 0) {
      ::close(fd);
      fd = -1;
    }
  }
};

}  // namespace

// disconnected without carrier, admin up or address; lan with one; internet after a check.
TEST(connectivity, levels_of_a_link) {
  EXPECT_EQ(connection_of(make_link("e", true, false, {"10.0.0.2"}), true),
            connection::disconnected);
  EXPECT_EQ(connection_of(make_link("e", false, true, {"10.0.0.2"}), true),
            connection::disconnected);
  EXPECT_EQ(connection_of(make_link("e", true, true, {}), true), connection::disconnected);
  EXPECT_EQ(connection_of(make_link("e", true, true, {"10.0.0.2"}), false), connection::lan);
  EXPECT_EQ(connection_of(make_link("e", true, true, {"10.0.0.2"}), true), connection::internet);
  EXPECT_EQ(connection_of(make_link("lo", true, true, {"127.0.0.1"}, "loopback"), true),
            connection::disconnected);
}

// The device's connection is the best of its links'.
TEST(connectivity, best_of_links) {
  EXPECT_EQ(best_connection({}), connection::disconnected);
  EXPECT_EQ(best_connection({connection::lan, connection::disconnected}), connection::lan);
  EXPECT_EQ(best_connection({connection::lan, connection::internet}), connection::internet);
  EXPECT_EQ(to_string(connection::internet), "internet");
}

// The TCP check succeeds against a listening socket and fails against a closed port.
TEST(connectivity, tcp_check_real_sockets) {
  loopback_listener l{4};
  ASSERT_GE(l.fd, 0);
  EXPECT_TRUE(
      tcp_check({{"127.0.0.1", l.port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1"));
  l.close();
  EXPECT_FALSE(
      tcp_check({{"127.0.0.1", l.port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1"));
  EXPECT_FALSE(tcp_check({}, std::chrono::milliseconds{100}, "lo", ""));
}

// A host name is resolved (here through /etc/hosts) before the connect.
TEST(connectivity, tcp_check_resolves_names) {
  loopback_listener l{4};
  ASSERT_GE(l.fd, 0);
  stop_signal stop;
  EXPECT_TRUE(tcp_check({{"localhost", l.port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1",
                        &stop));
}

// An IPv6 target ([ADDRESS]:PORT in the config) is connected over IPv6.
TEST(connectivity, tcp_check_ipv6_target) {
  loopback_listener l{4, AF_INET6};
  if (l.fd < 0) {
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  EXPECT_TRUE(tcp_check({{"::1", l.port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1"));
  l.close();
  EXPECT_FALSE(tcp_check({{"::1", l.port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1"));
}

// A check waiting on a connection that never completes gives up as soon as
// its stop signal fires, long before its time limit. The connection hangs
// because the listener's accept queue is full: the kernel drops the SYN.
TEST(connectivity, tcp_check_gives_up_when_stopped) {
  loopback_listener l{0};
  ASSERT_GE(l.fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(l.port);
  // Fill the accept queue (backlog 0 admits one or two).
  std::vector<int> fillers;
  for (int i = 0; i < 3; ++i) {
    int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    ::connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    fillers.push_back(c);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  stop_signal stop;
  EXPECT_FALSE(stop.fired());
  std::thread stopper{[&stop] {
    std::this_thread::sleep_for(std::chrono::milliseconds{300});
    stop.fire();
  }};
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(
      tcp_check({{"127.0.0.1", l.port}}, std::chrono::minutes{5}, "lo", "127.0.0.1", &stop));
  stopper.join();
  EXPECT_TRUE(stop.fired());
  // Behaviour, not speed: it returned on the signal, not at its 5-minute limit.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::minutes{1});
  // Once fired, a later check gives up at once as well.
  EXPECT_FALSE(
      tcp_check({{"127.0.0.1", l.port}}, std::chrono::minutes{5}, "lo", "127.0.0.1", &stop));
  for (int c : fillers) {
    ::close(c);
  }
}

// Every link gets the vintage_net properties; global ones summarise them.
TEST(net_properties, link_properties_of_snapshot) {
  auto snap = snapshot_of({make_link("eth0", true, true, {"10.0.0.2"}),
                           make_link("lo", true, true, {"127.0.0.1"}, "loopback"),
                           make_link("wlan0", true, false, {})});
  snap.links[0].gateway = "10.0.0.1";
  snap.links[0].addresses.push_back("fe80::1/64");
  auto p = link_properties(snap, {}, {"eth0"}, {});
  EXPECT_EQ(p["interface/eth0/type"], "ethernet");
  EXPECT_EQ(p["interface/eth0/state"], "up");
  EXPECT_EQ(p["interface/eth0/lower_up"], "true");
  EXPECT_EQ(p["interface/eth0/present"], "true");
  EXPECT_EQ(p["interface/eth0/mac_address"], "02:00:00:00:00:01");
  EXPECT_EQ(p["interface/eth0/addresses"], "10.0.0.2/24 fe80::1/64");
  EXPECT_EQ(p["interface/eth0/gateway"], "10.0.0.1");
  EXPECT_EQ(p["interface/eth0/connection"], "internet");
  EXPECT_EQ(p["interface/wlan0/lower_up"], "false");
  EXPECT_EQ(p["interface/wlan0/connection"], "disconnected");
  EXPECT_EQ(p.count("interface/wlan0/addresses"), 0U);
  EXPECT_EQ(p["interface/lo/connection"], "disconnected");
  EXPECT_EQ(p["available_interfaces"], "eth0");
  EXPECT_EQ(p["connection"], "internet");
}

// A configured interface that is missing is present = false, state absent.
TEST(net_properties, configured_but_absent_interface) {
  auto p = link_properties(snapshot_of({}), {"eth1"}, {}, {});
  EXPECT_EQ(p["interface/eth1/present"], "false");
  EXPECT_EQ(p["interface/eth1/state"], "absent");
  EXPECT_EQ(p["interface/eth1/connection"], "disconnected");
  EXPECT_EQ(p["connection"], "disconnected");
  EXPECT_EQ(p.count("available_interfaces"), 0U);
}

// available_interfaces: best connection first, then primary order, then name.
TEST(net_properties, available_interfaces_order) {
  auto snap = snapshot_of({make_link("a", true, true, {"10.0.0.2"}),
                           make_link("b", true, true, {"10.0.1.2"}),
                           make_link("c", true, true, {"10.0.2.2"})});
  EXPECT_EQ(link_properties(snap, {}, {}, {})["available_interfaces"], "a b c");
  EXPECT_EQ(link_properties(snap, {}, {}, {"c"})["available_interfaces"], "c a b");
  EXPECT_EQ(link_properties(snap, {}, {"b"}, {"c"})["available_interfaces"], "b c a");
}

// The primary address follows the configured order, else the first link by name.
TEST(net_properties, primary_address_and_node_name) {
  auto snap = snapshot_of({make_link("eth0", true, true, {"10.0.0.2"}),
                           make_link("lo", true, true, {"127.0.0.1"}, "loopback"),
                           make_link("wlan0", true, true, {"192.168.1.5"})});
  EXPECT_EQ(primary_address(snap, {}), "10.0.0.2");
  EXPECT_EQ(primary_address(snap, {"wlan0", "eth0"}), "192.168.1.5");
  EXPECT_EQ(primary_address(snap, {"usb0"}), "10.0.0.2");
  EXPECT_EQ(primary_address(snapshot_of({}), {}), "");
  EXPECT_EQ(node_name("dev", "10.0.0.2"), "dev@10.0.0.2");
  EXPECT_EQ(node_name("dev", ""), "dev@127.0.0.1");
}
