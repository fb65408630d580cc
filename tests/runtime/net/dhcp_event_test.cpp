// Tests of runtime/src/net/dhcp_event.cpp: udhcpc event lines (network input: hostile).
#include "myelin/runtime/net/dhcp_event.hpp"

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"

using namespace myelin::runtime;

// A bound line gives the lease: address, prefix, routers, DNS servers, lease time.
TEST(dhcp_event, bound_line_parsed) {
  auto ev = parse_dhcp_event(
      "event=bound interface=eth0 ip=10.0.0.55 mask=24 subnet=255.255.255.0 "
      "router=10.0.0.1,10.0.0.2 dns=1.1.1.1 lease=120");
  ASSERT_TRUE(ev) << describe(ev.error());
  EXPECT_EQ(ev->kind, "bound");
  EXPECT_EQ(ev->interface, "eth0");
  EXPECT_EQ(ev->ip, "10.0.0.55");
  EXPECT_EQ(ev->prefix, 24);
  EXPECT_EQ(ev->routers, (std::vector<std::string>{"10.0.0.1", "10.0.0.2"}));
  EXPECT_EQ(ev->dns, (std::vector<std::string>{"1.1.1.1"}));
  EXPECT_EQ(ev->lease_s, 120);
}

// Without mask the subnet gives the prefix; empty router and dns are no routers.
TEST(dhcp_event, subnet_and_empty_lists) {
  auto ev = parse_dhcp_event(
      "event=renew interface=eth0 ip=10.0.0.55 mask= subnet=255.255.0.0 router= dns= lease=");
  ASSERT_TRUE(ev) << describe(ev.error());
  EXPECT_EQ(ev->prefix, 16);
  EXPECT_TRUE(ev->routers.empty());
  EXPECT_TRUE(ev->dns.empty());
}

// deconfig, leasefail and nak need only the interface.
TEST(dhcp_event, events_without_lease) {
  for (const char* kind : {"deconfig", "leasefail", "nak"}) {
    auto ev = parse_dhcp_event(std::string{"event="} + kind +
                               " interface=wlan0 ip= mask= subnet= router= dns= lease=");
    ASSERT_TRUE(ev) << kind;
    EXPECT_EQ(ev->kind, kind);
  }
}

// Malformed, truncated, oversized and hostile lines are refused with a reason.
TEST(dhcp_event, hostile_lines_refused) {
  const char* bad[] = {
      "",
      "event=bound",
      "event=reboot interface=eth0",
      "event=bound interface=eth0 ip=10.0.0.256 mask=24",
      "event=bound interface=eth0 ip=10.0.0.5 mask=33",
      "event=bound interface=eth0 ip=10.0.0.5 mask=-1",
      "event=bound interface=eth0 ip=10.0.0.5 subnet=255.0.255.0",
      "event=bound interface=eth0 ip=10.0.0.5 mask=24 router=10.0.0.1;reboot",
      "event=bound interface=eth0 ip=10.0.0.5 mask=24 dns=$(reboot)",
      "event=bound interface=eth0 ip=10.0.0.5 mask=24 lease=12x",
      "event=bound interface=eth0 ip=10.0.0.5 mask=24 lease=99999999999",
      "event=bound interface=../../x ip=10.0.0.5",
      "event=bound interface=eth0 ip=10.0.0.5 ip=10.0.0.6",
      "event=bound interface=eth0 ip=10.0.0.5 garbage",
      "event=bound interface=eth0\tip=10.0.0.5",
      "event=bound interface=eth0 ip=10.0.0.5 =x",
  };
  for (const char* line : bad) {
    auto ev = parse_dhcp_event(line);
    EXPECT_FALSE(ev) << line;
    if (!ev) {
      EXPECT_NE(describe(ev.error()).find("bad udhcpc event"), std::string::npos);
    }
  }
  EXPECT_FALSE(parse_dhcp_event(std::string(max_dhcp_event_line + 1, 'a')));
  EXPECT_FALSE(parse_dhcp_event(std::string{"event=bound interface=eth0 ip=10.0.0.5\xff"}));
  std::string many = "event=bound interface=eth0 ip=10.0.0.5 mask=24 router=";
  for (int i = 0; i < 20; ++i) {
    many += "10.0.0.1,";
  }
  EXPECT_FALSE(parse_dhcp_event(many));
}

// Netmasks convert to prefixes; non-contiguous masks are refused.
TEST(dhcp_event, netmask_prefix) {
  EXPECT_EQ(netmask_prefix("255.255.255.0"), 24);
  EXPECT_EQ(netmask_prefix("255.255.255.255"), 32);
  EXPECT_EQ(netmask_prefix("0.0.0.0"), 0);
  EXPECT_EQ(netmask_prefix("255.255.128.0"), 17);
  EXPECT_EQ(netmask_prefix("255.0.255.0"), -1);
  EXPECT_EQ(netmask_prefix("junk"), -1);
}

// The script writes to the FIFO it was made for and nothing else is baked in.
TEST(dhcp_event, script_names_fifo) {
  auto s = udhcpc_script("/var/lib/myelin/net/dhcp-events");
  EXPECT_EQ(s.rfind("#!/bin/sh\n", 0), 0U);
  EXPECT_NE(s.find("fifo='/var/lib/myelin/net/dhcp-events'"), std::string::npos);
  EXPECT_NE(s.find("event=%s interface=%s"), std::string::npos);
}
