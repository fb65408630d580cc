// Tests of runtime/src/firmware/firmware_status.cpp: Nerves' validation and slot rules
// for every combination of the keys involved.
#include "myelin/runtime/firmware/firmware_status.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_manifest.hpp"

using namespace myelin::runtime;

namespace {

// The values a key can take in the combinations: absent, "0", "1", other.
const std::vector<std::optional<std::string>> key_values{std::nullopt, "0", "1", "yes"};

void put(kv_map& kv, const std::string& key, const std::optional<std::string>& v) {
  if (v) {
    kv[key] = *v;
  }
}

// REFERENCE.md's rule, written as a table lookup on the deciding value.
validation expected_validation(const std::optional<std::string>& upgrade_available,
                               const std::optional<std::string>& slot_validated,
                               const std::optional<std::string>& global_validated) {
  if (upgrade_available) {
    return *upgrade_available == "0"   ? validation::validated
           : *upgrade_available == "1" ? validation::unvalidated
                                       : validation::unknown;
  }
  const auto& deciding = slot_validated ? slot_validated : global_validated;
  if (!deciding) {
    return validation::unknown;
  }
  return *deciding == "1"   ? validation::validated
         : *deciding == "0" ? validation::unvalidated
                            : validation::unknown;
}

}  // namespace

// Validation status, next slot and validate() for every combination of
// active slot × upgrade_available × <active>.nerves_fw_validated ×
// nerves_fw_validated × the other slot's nerves_fw_validated.
TEST(firmware_status, every_key_combination) {
  int cases = 0;
  const std::vector<std::optional<std::string>> actives{std::nullopt, "a", "b"};
  for (const auto& active : actives) {
    std::string slot = active.value_or("a");
    std::string other = slot == "a" ? "b" : "a";
    for (const auto& ua : key_values) {
      for (const auto& sv : key_values) {
        for (const auto& gv : key_values) {
          for (const auto& ov : key_values) {
            kv_map kv;
            put(kv, "nerves_fw_active", active);
            put(kv, "upgrade_available", ua);
            put(kv, slot + ".nerves_fw_validated", sv);
            put(kv, "nerves_fw_validated", gv);
            put(kv, other + ".nerves_fw_validated", ov);  // must never matter
            kv[other + ".nerves_fw_platform"] = "rpi4";   // the other slot holds firmware
            kv[other + ".nerves_fw_architecture"] = "arm";
            auto want = expected_validation(ua, sv, gv);
            auto s = status_of(kv);
            SCOPED_TRACE(testing::Message()
                         << "active=" << active.value_or("-") << " ua=" << ua.value_or("-")
                         << " sv=" << sv.value_or("-") << " gv=" << gv.value_or("-"));
            EXPECT_EQ(s.active, slot);
            EXPECT_EQ(s.validation, want);
            EXPECT_EQ(s.scheme,
                      ua ? validation_scheme::uboot_bootcount : validation_scheme::nerves);
            EXPECT_EQ(firmware_valid(kv), want != validation::unvalidated);
            EXPECT_EQ(s.next, want == validation::unvalidated ? other : slot);
            // validate() always ends validated, and the next boot stays here.
            kv_map after = kv;
            for (const auto& [k, v] : validate_changes(kv)) {
              ASSERT_TRUE(v);
              after[k] = *v;
            }
            EXPECT_EQ(validation_status(after), validation::validated);
            EXPECT_EQ(next_slot(after), slot);
            if (ua) {
              EXPECT_EQ(after["upgrade_available"], "0");
              EXPECT_EQ(after["bootcount"], "0");
            }
            ++cases;
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 3 * 4 * 4 * 4 * 4);
}

// revert switches the next boot to the other slot when it holds firmware.
TEST(firmware_status, revert_switches_slot) {
  kv_map kv{{"nerves_fw_active", "a"},
            {"a.nerves_fw_validated", "1"},
            {"b.nerves_fw_platform", "rpi4"},
            {"b.nerves_fw_architecture", "arm"},
            {"b.nerves_fw_validated", "1"}};
  auto changes = revert_changes(kv);
  ASSERT_TRUE(changes) << describe(changes.error());
  for (const auto& [k, v] : *changes) {
    kv[k] = *v;
  }
  EXPECT_EQ(active_slot(kv), "b");
  EXPECT_EQ(next_slot(kv), "b");
  EXPECT_EQ(validation_status(kv), validation::validated);
}

// revert under the U-Boot bootcount scheme clears upgrade_available.
TEST(firmware_status, revert_uboot_scheme) {
  kv_map kv{{"nerves_fw_active", "b"},
            {"upgrade_available", "1"},
            {"bootcount", "2"},
            {"a.nerves_fw_platform", "x"},
            {"a.nerves_fw_architecture", "y"}};
  auto changes = revert_changes(kv);
  ASSERT_TRUE(changes);
  EXPECT_EQ(changes->at("nerves_fw_active"), "a");
  EXPECT_EQ(changes->at("upgrade_available"), "0");
  EXPECT_EQ(changes->at("bootcount"), "0");
}

// revert refuses when the other slot holds no firmware, and after
// prevent_revert.
TEST(firmware_status, revert_refused_without_firmware) {
  kv_map kv{{"nerves_fw_active", "a"}, {"b.nerves_fw_platform", "rpi4"}};
  auto changes = revert_changes(kv);
  ASSERT_FALSE(changes);
  EXPECT_EQ(static_cast<firmware_errc>(changes.error().code()),
            firmware_errc::no_firmware_to_revert_to);
  EXPECT_EQ(describe(changes.error()), "slot b holds no firmware to revert to");

  kv["b.nerves_fw_architecture"] = "arm";
  kv["b.nerves_fw_version"] = "1.0";
  kv["a.nerves_fw_version"] = "2.0";
  ASSERT_TRUE(revert_changes(kv));
  auto prevent = prevent_revert_changes(kv);
  EXPECT_EQ(prevent.size(), 3u);
  for (const auto& [k, v] : prevent) {
    EXPECT_EQ(k.rfind("b.", 0), 0u) << k;
    EXPECT_FALSE(v);
    kv.erase(k);
  }
  EXPECT_EQ(kv.at("a.nerves_fw_version"), "2.0");
  EXPECT_FALSE(revert_changes(kv));
}

// An active slot that is neither a nor b cannot be reverted.
TEST(firmware_status, revert_unknown_slot) {
  kv_map kv{{"nerves_fw_active", "c"}};
  auto changes = revert_changes(kv);
  ASSERT_FALSE(changes);
  EXPECT_EQ(static_cast<firmware_errc>(changes.error().code()), firmware_errc::unknown_slot);
  EXPECT_EQ(next_slot(kv), "c");
}

namespace {

firmware_manifest manifest() {
  firmware_manifest m;
  m.product = "demo";
  m.version = "2.0";
  m.platform = "rpi4";
  m.architecture = "aarch64";
  m.uuid = "u";
  m.resources.push_back({std::string{rootfs_resource}, 1234, std::string(64, 'e')});
  return m;
}

kv_map applied_changes(kv_map kv, const kv_changes& c) {
  for (const auto& [k, v] : c) {
    if (v) {
      kv[k] = *v;
    } else {
      kv.erase(k);
    }
  }
  return kv;
}

}  // namespace

// Nerves scheme: metadata, active slot, unvalidated; empty fields deleted.
TEST(firmware_status, install_changes_nerves_scheme) {
  kv_map kv{{"nerves_fw_active", "a"},
            {"nerves_fw_validated", "1"},
            {"a.nerves_fw_platform", "rpi4"},
            {"a.nerves_fw_architecture", "arm"},
            {"b.nerves_fw_author", "old author"},
            {"b.nerves_fw_validated", "1"}};
  auto c = install_changes(kv, manifest(), "b");
  ASSERT_TRUE(c);
  auto after = applied_changes(kv, *c);
  EXPECT_EQ(after["nerves_fw_active"], "b");
  EXPECT_EQ(after["b.nerves_fw_version"], "2.0");
  EXPECT_EQ(after["b.nerves_fw_platform"], "rpi4");
  EXPECT_EQ(after.count("b.nerves_fw_author"), 0u);
  EXPECT_EQ(validation_status(after), validation::unvalidated);
  EXPECT_EQ(next_slot(after), "a");
  // The image it must hold, for revert's check.
  auto record = recorded_image(after, "b");
  ASSERT_TRUE(record);
  EXPECT_EQ(record->sha256, manifest().find(myelin::runtime::rootfs_resource)->sha256);
  EXPECT_EQ(record->size, manifest().find(myelin::runtime::rootfs_resource)->size);
  EXPECT_FALSE(install_changes(kv, manifest(), "c"));
}

// A slot without firmware metadata is never the next boot's (a torn slot
// has none), and forget_slot_changes deletes exactly that slot's keys.
TEST(firmware_status, a_slot_without_metadata_is_never_next) {
  kv_map kv{{"nerves_fw_active", "b"},
            {"nerves_fw_validated", "0"},
            {"b.nerves_fw_platform", "rpi4"},
            {"b.nerves_fw_architecture", "arm"},
            {"a.nerves_fw_version", "1.0"}};
  EXPECT_EQ(next_slot(kv), "b");
  kv["a.nerves_fw_platform"] = "rpi4";
  kv["a.nerves_fw_architecture"] = "arm";
  EXPECT_EQ(next_slot(kv), "a");
  auto forget = forget_slot_changes(kv, "a");
  EXPECT_EQ(forget.size(), 3u);
  auto after = applied_changes(kv, forget);
  EXPECT_FALSE(holds_firmware(after, "a"));
  EXPECT_TRUE(holds_firmware(after, "b"));
  EXPECT_EQ(next_slot(after), "b");
  EXPECT_FALSE(recorded_image(after, "a"));
}

// U-Boot bootcount scheme: upgrade_available=1, bootcount=0.
TEST(firmware_status, install_changes_bootcount_scheme) {
  kv_map kv{{"nerves_fw_active", "b"}, {"upgrade_available", "0"}, {"bootcount", "3"}};
  auto c = install_changes(kv, manifest(), "a");
  ASSERT_TRUE(c);
  auto after = applied_changes(kv, *c);
  EXPECT_EQ(after["upgrade_available"], "1");
  EXPECT_EQ(after["bootcount"], "0");
  EXPECT_EQ(after["nerves_fw_active"], "a");
  EXPECT_EQ(validation_status(after), validation::unvalidated);
}
