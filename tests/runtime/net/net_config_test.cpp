// Tests of runtime/src/net/net_config.cpp: the [net] section, checked beyond the schema.
#include "myelin/runtime/net/net_config.hpp"

#include <gtest/gtest.h>

using namespace myelin::runtime;

namespace {

caf::expected<net_config> from_toml(const std::string& text) {
  auto cfg = parse_config(text, "net.toml");
  if (!cfg) {
    return cfg.error();
  }
  return net_config_from(*cfg);
}

std::string error_of(const std::string& text) {
  auto c = from_toml(text);
  return c ? std::string{"(no error)"} : describe(c.error());
}

}  // namespace

// Defaults: no interface configured (observe only), node name from device.name.
TEST(net_config, defaults_observe_only) {
  auto c = from_toml("[device]\nname = \"box\"\n");
  ASSERT_TRUE(c) << describe(c.error());
  EXPECT_TRUE(c->interfaces.empty());
  EXPECT_EQ(c->node_name_prefix, "box");
  EXPECT_EQ(c->internet_hosts.size(), 2U);
  EXPECT_EQ(c->check_interval, std::chrono::milliseconds{30000});
}

// Static, dhcp and none interfaces are read with their settings.
TEST(net_config, interfaces_read) {
  auto c = from_toml(
      "[net]\nnode_name_prefix = \"n\"\ninternet_hosts = [\"example.com:443\", \"[::1]:53\"]\n"
      "[net.interfaces.eth0]\nmethod = \"static\"\naddress = \"10.1.2.3\"\nprefix = 16\n"
      "gateway = \"10.1.0.1\"\n"
      "[net.interfaces.wlan0]\nmethod = \"dhcp\"\n"
      "[net.interfaces.usb0]\nmethod = \"none\"\nup = false\n");
  ASSERT_TRUE(c) << describe(c.error());
  ASSERT_EQ(c->interfaces.size(), 3U);
  // Sorted by name.
  EXPECT_EQ(c->interfaces[0].name, "eth0");
  EXPECT_EQ(c->interfaces[0].method, address_method::static_ipv4);
  EXPECT_EQ(c->interfaces[0].address, "10.1.2.3");
  EXPECT_EQ(c->interfaces[0].prefix, 16);
  EXPECT_EQ(c->interfaces[0].gateway, "10.1.0.1");
  EXPECT_EQ(c->interfaces[1].name, "usb0");
  EXPECT_FALSE(c->interfaces[1].up);
  EXPECT_EQ(c->interfaces[2].method, address_method::dhcp);
  EXPECT_EQ(c->node_name_prefix, "n");
  EXPECT_EQ(c->internet_hosts[0].host, "example.com");
  EXPECT_EQ(c->internet_hosts[0].port, 443);
  EXPECT_EQ(c->internet_hosts[1].host, "::1");
}

// An unknown method is refused by the schema, naming the key.
TEST(net_config, unknown_method_names_key) {
  auto e = error_of("[net.interfaces.eth0]\nmethod = \"ppp\"\n");
  EXPECT_NE(e.find("net.interfaces.eth0.method"), std::string::npos) << e;
}

// Invalid addresses and gateways are refused, naming the key and the value.
TEST(net_config, invalid_address_names_key) {
  auto e = error_of("[net.interfaces.eth0]\nmethod = \"static\"\naddress = \"10.0.0.300\"\n");
  EXPECT_EQ(e, "net.interfaces.eth0.address: '10.0.0.300' is not an IPv4 address");
  e = error_of("[net.interfaces.eth0]\nmethod = \"static\"\n");
  EXPECT_EQ(e, "net.interfaces.eth0.address: method 'static' needs an address");
  e = error_of(
      "[net.interfaces.eth0]\nmethod = \"static\"\naddress = \"10.0.0.3\"\ngateway = \"gw\"\n");
  EXPECT_EQ(e, "net.interfaces.eth0.gateway: 'gw' is not an IPv4 address");
  e = error_of("[net.interfaces.eth0]\nmethod = \"dhcp\"\naddress = \"10.0.0.3\"\n");
  EXPECT_NE(e.find("net.interfaces.eth0.address: an address is only used with method 'static'"),
            std::string::npos)
      << e;
  e = error_of("[net.interfaces.eth0]\nmethod = \"static\"\naddress = \"10.0.0.3\"\nprefix = 33\n");
  EXPECT_NE(e.find("net.interfaces.eth0.prefix"), std::string::npos) << e;
}

// Interface names Linux would refuse are refused.
TEST(net_config, invalid_interface_name) {
  auto e = error_of("[net.interfaces.averyveryverylongname]\nmethod = \"dhcp\"\n");
  EXPECT_NE(e.find("net.interfaces.averyveryverylongname"), std::string::npos) << e;
  e = error_of("[net]\nprimary_interfaces = [\"a/b\"]\n");
  EXPECT_NE(e.find("net.primary_interfaces"), std::string::npos) << e;
  EXPECT_TRUE(is_interface_name("eth0"));
  EXPECT_TRUE(is_interface_name("mn123456a"));
  EXPECT_FALSE(is_interface_name(""));
  EXPECT_FALSE(is_interface_name(".."));
  EXPECT_FALSE(is_interface_name("a b"));
  EXPECT_FALSE(is_interface_name("a:1"));
  EXPECT_FALSE(is_interface_name("0123456789abcdef"));
}

// Malformed internet check endpoints are refused, naming the key.
TEST(net_config, bad_host_port) {
  for (const char* bad : {"1.1.1.1", "1.1.1.1:", "1.1.1.1:0", "1.1.1.1:65536", ":53", "a b:53",
                          "[::1]53", "[]:53", "host:5x", "h:123456"}) {
    auto e = error_of(std::string{"[net]\ninternet_hosts = [\""} + bad + "\"]\n");
    EXPECT_NE(e.find("net.internet_hosts"), std::string::npos) << bad << ": " << e;
  }
}

// Dotted quads only: four decimal octets, each 0-255, no leading zeros.
TEST(net_config, ipv4_syntax) {
  for (const char* good : {"0.0.0.0", "10.0.0.1", "255.255.255.255", "192.168.100.7"}) {
    EXPECT_TRUE(is_ipv4(good)) << good;
  }
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1..2.3", "1.2.3.4 ",
                          "a.b.c.d", "1.2.3.-4", "1.2.3.4/24", "1111.2.3.4", "."}) {
    EXPECT_FALSE(is_ipv4(bad)) << bad;
  }
}
