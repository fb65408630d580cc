// What an app may read and write (issue 18): its namespace, the public Nerves
// keys read-only, granted prefixes — and never the bootloader's variables.
#include <gtest/gtest.h>

#include "myelin/runtime/apps/app_grants.hpp"

using myelin::runtime::app_grants;
using myelin::runtime::protected_key;
using myelin::runtime::read_refusal;
using myelin::runtime::write_refusal;

TEST(app_grants, defaults_and_grants) {
  app_grants g;
  g.app = "ticker";
  EXPECT_EQ(read_refusal(g, "app.ticker.count"), "");
  EXPECT_EQ(write_refusal(g, "app.ticker.count"), "");
  EXPECT_EQ(read_refusal(g, "nerves_fw_active"), "");
  EXPECT_EQ(read_refusal(g, "a.nerves_fw_version"), "");
  EXPECT_NE(read_refusal(g, "app.hello.secret"), "");
  EXPECT_NE(write_refusal(g, "app.hello.secret"), "");
  EXPECT_NE(read_refusal(g, "bootargs"), "");
  EXPECT_NE(write_refusal(g, "app.tickerx.count"), "");  // another app's namespace
  g.kv_read = {"site."};
  g.kv_write = {"shared.", ""};  // an empty prefix grants nothing
  EXPECT_EQ(read_refusal(g, "site.name"), "");
  EXPECT_EQ(write_refusal(g, "shared.x"), "");
  EXPECT_EQ(read_refusal(g, "shared.x"), "");  // what it may write it may read
  EXPECT_NE(write_refusal(g, "color"), "");
  EXPECT_NE(write_refusal(g, "site.name"), "");
}

TEST(app_grants, the_bootloaders_variables_are_never_writable) {
  app_grants g;
  g.app = "x";
  g.kv_write = {"b", "n", "u", "a.", "m"};  // granted, and still refused
  for (const char* k : {"bootargs", "bootcmd", "bootcount", "upgrade_available", "nerves_fw_active",
                        "nerves_fw_validated", "a.nerves_fw_validated", "b.nerves_fw_platform",
                        "nerves_serial_number", "a.myelin_rootfs_sha256", "myelin_x"}) {
    EXPECT_TRUE(protected_key(k)) << k;
    EXPECT_NE(write_refusal(g, k).find("never writable"), std::string::npos) << k;
  }
  EXPECT_FALSE(protected_key("app.x.bootargs"));
  EXPECT_FALSE(protected_key("bootargs_extra"));
}
