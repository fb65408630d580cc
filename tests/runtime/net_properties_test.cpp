// Tests of runtime/src/net_properties.cpp and connectivity.cpp: properties,
// connection levels and the node name computed from a snapshot.
#include "myelin/runtime/net_properties.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "myelin/runtime/connectivity.hpp"

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
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(::listen(fd, 4), 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  uint16_t port = ntohs(a.sin_port);
  EXPECT_TRUE(tcp_check({{"127.0.0.1", port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1"));
  ::close(fd);
  EXPECT_FALSE(
      tcp_check({{"127.0.0.1", port}}, std::chrono::milliseconds{2000}, "lo", "127.0.0.1"));
  EXPECT_FALSE(tcp_check({}, std::chrono::milliseconds{100}, "lo", ""));
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
