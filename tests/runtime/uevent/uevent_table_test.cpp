// Tests of runtime/src/uevent/uevent_table.cpp: Nerves' property-table rules on real
// captured events (add, move, remove of veth/bridge/ifb) and on hand-made ones.
#include "myelin/runtime/uevent/uevent_table.hpp"

#include <gtest/gtest.h>

#include "uevent_fixtures.hpp"

using namespace myelin::runtime;
using myelin::test::uevent_fixture;

namespace {

uevent event(const std::string& action, const std::string& devpath,
             std::vector<std::pair<std::string, std::string>> entries = {}) {
  uevent ev;
  ev.action = action;
  ev.devpath = devpath;
  ev.entries = {{"ACTION", action}, {"DEVPATH", devpath}, {"SEQNUM", "1"}};
  for (auto& e : entries) {
    if (e.first == "DEVPATH_OLD") {
      ev.devpath_old = e.second;
    }
    ev.entries.push_back(std::move(e));
  }
  return ev;
}

void apply_all(uevent_table& t, const std::string& fixture, size_t count = SIZE_MAX) {
  auto messages = uevent_fixture(fixture);
  for (size_t i = 0; i < messages.size() && i < count; ++i) {
    auto r = parse_uevent(messages[i]);
    ASSERT_TRUE(r.ok()) << r.detail;
    t.apply(r.event);
  }
}

}  // namespace

// The captured veth lifecycle: both ends with their queues appear, the rename
// re-keys vb (and its queues) as vc, and after the delete nothing is left.
TEST(uevent_table, captured_veth_lifecycle) {
  uevent_table t;
  apply_all(t, "veth_lifecycle.bin", 10);
  EXPECT_EQ(t.size(), 10u);
  const auto* vb = t.find("/devices/virtual/net/vb");
  ASSERT_NE(vb, nullptr);
  EXPECT_EQ(*vb, (uevent_properties{{"subsystem", "net"}, {"interface", "vb"}, {"ifindex", "2"}}));
  apply_all(t, "veth_lifecycle.bin",
            15);  // the first 10 again (idempotent), the removals, the move
  EXPECT_EQ(t.find("/devices/virtual/net/vb"), nullptr);
  ASSERT_NE(t.find("/devices/virtual/net/vc"), nullptr);
  EXPECT_EQ(t.find("/devices/virtual/net/vc")->at("interface"), "vc");
  EXPECT_NE(t.find("/devices/virtual/net/vc/queues/rx-0"), nullptr);
  EXPECT_EQ(t.find("/devices/virtual/net/vb/queues/rx-0"), nullptr);
  apply_all(t, "veth_lifecycle.bin");
  EXPECT_EQ(t.size(), 0u);
}

// Bridge and ifb: prefix queries match whole segments.
TEST(uevent_table, captured_bridge_prefix_query) {
  uevent_table t;
  apply_all(t, "bridge_ifb.bin", 6);
  auto br = t.with_prefix("/devices/virtual/net/br0");
  ASSERT_EQ(br.size(), 3u);
  EXPECT_EQ(br[0].devpath, "/devices/virtual/net/br0");
  EXPECT_EQ(br[0].properties->at("devtype"), "bridge");
  EXPECT_EQ(br[1].devpath, "/devices/virtual/net/br0/queues/rx-0");
  EXPECT_TRUE(t.with_prefix("/devices/virtual/net/br").empty());
  EXPECT_EQ(t.with_prefix("/devices/virtual/net/").size(), 6u);
  EXPECT_EQ(t.with_prefix("").size(), 6u);
  EXPECT_EQ(t.with_prefix("/").size(), 6u);
}

// ACTION, DEVPATH, DEVPATH_OLD and SEQNUM are dropped; keys are lowercased.
TEST(uevent_table, properties_dropped_and_lowercased) {
  auto props = uevent_table::properties_of(
      event("move", "/devices/a", {{"DEVPATH_OLD", "/devices/b"}, {"MODALIAS", "pci:X"}}));
  EXPECT_EQ(props, (uevent_properties{{"modalias", "pci:X"}}));
}

// Events not under /devices are ignored (e.g. /module/veth, /bus/...).
TEST(uevent_table, outside_devices_ignored) {
  uevent_table t;
  EXPECT_EQ(t.apply(event("add", "/module/veth")), uevent_table_change::ignored);
  EXPECT_EQ(t.apply(event("add", "/devicesx/a")), uevent_table_change::ignored);
  EXPECT_EQ(t.size(), 0u);
}

// change replaces the properties; bind and other actions store like add.
TEST(uevent_table, change_replaces_properties) {
  uevent_table t;
  t.apply(event("add", "/devices/a", {{"X", "1"}, {"Y", "2"}}));
  EXPECT_EQ(t.apply(event("change", "/devices/a", {{"X", "3"}})), uevent_table_change::stored);
  EXPECT_EQ(*t.find("/devices/a"), (uevent_properties{{"x", "3"}}));
  t.apply(event("bind", "/devices/a", {{"DRIVER", "d"}}));
  EXPECT_EQ(t.find("/devices/a")->at("driver"), "d");
}

// remove deletes the device and its descendants, not its siblings.
TEST(uevent_table, remove_deletes_subtree) {
  uevent_table t;
  for (const char* p : {"/devices/a", "/devices/a/b", "/devices/a/b/c", "/devices/ab"}) {
    t.apply(event("add", p));
  }
  size_t removed = 0;
  EXPECT_EQ(t.apply(event("remove", "/devices/a"), &removed), uevent_table_change::removed);
  EXPECT_EQ(removed, 3u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_NE(t.find("/devices/ab"), nullptr);
  // Removing something unknown is harmless.
  EXPECT_EQ(t.apply(event("remove", "/devices/zz"), &removed), uevent_table_change::removed);
  EXPECT_EQ(removed, 0u);
}

// move re-keys the subtree; a move from outside /devices just stores the new key.
TEST(uevent_table, move_rekeys_subtree) {
  uevent_table t;
  t.apply(event("add", "/devices/net/old", {{"INTERFACE", "old"}}));
  t.apply(event("add", "/devices/net/old/queues/rx-0", {{"Q", "1"}}));
  size_t moved = 0;
  EXPECT_EQ(t.apply(event("move", "/devices/net/new",
                          {{"DEVPATH_OLD", "/devices/net/old"}, {"INTERFACE", "new"}}),
                    &moved),
            uevent_table_change::moved);
  EXPECT_EQ(moved, 2u);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find("/devices/net/new")->at("interface"), "new");
  EXPECT_EQ(t.find("/devices/net/new/queues/rx-0")->at("q"), "1");
  t.apply(event("move", "/devices/net/newer", {{"DEVPATH_OLD", "/elsewhere/x"}}));
  EXPECT_EQ(t.size(), 3u);
}

// Helpers: devpath_of and has_prefix.
TEST(uevent_table, key_helpers) {
  EXPECT_EQ(uevent_table::devpath_of({"devices", "a"}), "/devices/a");
  EXPECT_EQ(uevent_table::devpath_of({}), "/");
  EXPECT_TRUE(uevent_table::has_prefix("/devices/a/b", "/devices/a"));
  EXPECT_FALSE(uevent_table::has_prefix("/devices/ab", "/devices/a"));
}
