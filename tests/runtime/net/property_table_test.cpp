// Tests of runtime/src/net/property_table.cpp: the net service's property table.
#include "myelin/runtime/net/property_table.hpp"

#include <gtest/gtest.h>

using namespace myelin::runtime;

// A new property reports (name, "", value); the same value again reports nothing.
TEST(property_table, put_reports_new_and_changed_values_once) {
  property_table t;
  auto c = t.put("interface/eth0/state", "up");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (property_change{"interface/eth0/state", "", "up"}));
  EXPECT_FALSE(t.put("interface/eth0/state", "up"));
  c = t.put("interface/eth0/state", "down");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (property_change{"interface/eth0/state", "up", "down"}));
  EXPECT_EQ(t.get("interface/eth0/state"), "down");
}

// An empty value removes the property, reported as a change to "".
TEST(property_table, empty_value_removes) {
  property_table t;
  t.put("a", "1");
  auto c = t.put("a", "");
  ASSERT_TRUE(c);
  EXPECT_EQ(*c, (property_change{"a", "1", ""}));
  EXPECT_EQ(t.size(), 0U);
  EXPECT_FALSE(t.remove("a"));
}

// A prefix matches whole segments: interface/eth0 is not interface/eth01.
TEST(property_table, prefix_matches_whole_segments) {
  EXPECT_TRUE(property_matches("", "anything"));
  EXPECT_TRUE(property_matches("interface/eth0", "interface/eth0/state"));
  EXPECT_TRUE(property_matches("interface/eth0", "interface/eth0"));
  EXPECT_FALSE(property_matches("interface/eth0", "interface/eth01/state"));
  EXPECT_TRUE(property_matches("interface/", "interface/eth01/state"));
  EXPECT_FALSE(property_matches("interface/eth0/state/x", "interface/eth0/state"));
  EXPECT_FALSE(property_matches("connection", "connections"));
}

// get_by_prefix returns only the properties under the prefix, sorted.
TEST(property_table, get_by_prefix_selects_subtree) {
  property_table t;
  t.put("interface/eth0/state", "up");
  t.put("interface/eth01/state", "down");
  t.put("interface/eth0/type", "ethernet");
  t.put("connection", "lan");
  auto m = t.get_by_prefix("interface/eth0");
  ASSERT_EQ(m.size(), 2U);
  EXPECT_EQ(m.begin()->first, "interface/eth0/state");
  EXPECT_EQ(t.get_by_prefix("").size(), 4U);
  EXPECT_TRUE(t.get_by_prefix("nothing").empty());
}

// replace sets what changed and removes what is gone, reporting both in name order.
TEST(property_table, replace_reports_set_and_removed) {
  property_table t;
  t.put("interface/a/state", "up");
  t.put("interface/b/state", "up");
  t.put("node_name", "x@1.2.3.4");
  auto changes =
      t.replace("interface/", {{"interface/a/state", "down"}, {"interface/c/state", "up"}});
  ASSERT_EQ(changes.size(), 3U);
  EXPECT_EQ(changes[0], (property_change{"interface/a/state", "up", "down"}));
  EXPECT_EQ(changes[1], (property_change{"interface/b/state", "up", ""}));
  EXPECT_EQ(changes[2], (property_change{"interface/c/state", "", "up"}));
  EXPECT_EQ(t.get("node_name"), "x@1.2.3.4");
  EXPECT_TRUE(t.replace("interface/", t.get_by_prefix("interface/")).empty());
}

// List-valued property names are recognised by their last segment.
TEST(property_table, list_properties) {
  EXPECT_TRUE(is_list_property("interface/eth0/addresses"));
  EXPECT_TRUE(is_list_property("available_interfaces"));
  EXPECT_TRUE(is_list_property("interface/eth0/dns"));
  EXPECT_FALSE(is_list_property("interface/eth0/state"));
}
