// Tests of actors/src/firmware_upload.cpp: the KV changes of an install and
// clearing overlays (the upload itself runs in tests/integration/firmware_update_test.cpp).
#include "myelin/actors/firmware_upload.hpp"

#include <filesystem>

#include <gtest/gtest.h>

#include "myelin/runtime/firmware_status.hpp"
#include "myelin/test/support.hpp"

using namespace myelin;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

runtime::firmware_manifest manifest() {
  runtime::firmware_manifest m;
  m.product = "demo";
  m.version = "2.0";
  m.platform = "rpi4";
  m.architecture = "aarch64";
  m.uuid = "u";
  return m;
}

runtime::kv_map applied(runtime::kv_map kv, const runtime::kv_changes& c) {
  for (const auto& [k, v] : c) {
    if (v) {
      kv[k] = *v;
    } else {
      kv.erase(k);
    }
  }
  return kv;
}

// Nerves scheme: metadata, active slot, unvalidated; empty fields deleted.
TEST(firmware_upload, install_changes_nerves_scheme) {
  runtime::kv_map kv{{"nerves_fw_active", "a"},
                     {"nerves_fw_validated", "1"},
                     {"b.nerves_fw_author", "old author"},
                     {"b.nerves_fw_validated", "1"}};
  auto c = actors::install_changes(kv, manifest(), "b");
  ASSERT_TRUE(c);
  auto after = applied(kv, *c);
  EXPECT_EQ(after["nerves_fw_active"], "b");
  EXPECT_EQ(after["b.nerves_fw_version"], "2.0");
  EXPECT_EQ(after["b.nerves_fw_platform"], "rpi4");
  EXPECT_EQ(after.count("b.nerves_fw_author"), 0u);
  EXPECT_EQ(runtime::validation_status(after), runtime::validation::unvalidated);
  EXPECT_EQ(runtime::next_slot(after), "a");
  EXPECT_FALSE(actors::install_changes(kv, manifest(), "c"));
}

// U-Boot bootcount scheme: upgrade_available=1, bootcount=0.
TEST(firmware_upload, install_changes_bootcount_scheme) {
  runtime::kv_map kv{{"nerves_fw_active", "b"}, {"upgrade_available", "0"}, {"bootcount", "3"}};
  auto c = actors::install_changes(kv, manifest(), "a");
  ASSERT_TRUE(c);
  auto after = applied(kv, *c);
  EXPECT_EQ(after["upgrade_available"], "1");
  EXPECT_EQ(after["bootcount"], "0");
  EXPECT_EQ(after["nerves_fw_active"], "a");
  EXPECT_EQ(runtime::validation_status(after), runtime::validation::unvalidated);
}

}  // namespace
