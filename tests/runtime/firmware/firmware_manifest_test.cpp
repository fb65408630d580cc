// Tests of runtime/src/firmware/firmware_manifest.cpp: strict parsing and writing.
#include "myelin/runtime/firmware/firmware_manifest.hpp"

#include <gtest/gtest.h>

using namespace myelin::runtime;

namespace {

const std::string hash(64, 'a');

std::string manifest_with(const std::string& extra_lines,
                          const std::string& rootfs = "resource=rootfs.img 10 " + hash + "\n") {
  return "myelin-firmware=1\nmeta-product=demo\nmeta-version=1.0\nmeta-platform=rpi4\n"
         "meta-architecture=aarch64\n" +
         extra_lines + rootfs;
}

firmware_manifest sample() {
  firmware_manifest m;
  m.product = "demo";
  m.version = "1.2.3";
  m.platform = "rpi4";
  m.architecture = "aarch64";
  m.uuid = "5b8a3b1e-0000-4000-8000-000000000001";
  m.author = "A. Author";
  m.description = "with = signs and spaces";
  m.vcs_identifier = "abc123";
  m.misc = "x";
  m.resources = {{"rootfs.img", 1234, hash}, {"boot.scr", 0, std::string(64, 'f')}};
  return m;
}

// What format writes, parse reads back field for field.
TEST(firmware_manifest, format_parse_roundtrip) {
  auto text = format_firmware_manifest(sample());
  ASSERT_TRUE(text);
  auto m = parse_firmware_manifest(*text);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->product, "demo");
  EXPECT_EQ(m->version, "1.2.3");
  EXPECT_EQ(m->description, "with = signs and spaces");
  EXPECT_EQ(m->uuid, sample().uuid);
  ASSERT_EQ(m->resources.size(), 2u);
  EXPECT_EQ(m->resources[0].size, 1234u);
  EXPECT_EQ(m->find("boot.scr")->sha256, std::string(64, 'f'));
  EXPECT_EQ(m->total_size(), 1234u);
  auto kv = slot_metadata(*m, "b");
  ASSERT_EQ(kv.size(), 9u);
  EXPECT_EQ(kv[0], (std::pair<std::string, std::string>{"b.nerves_fw_product", "demo"}));
  EXPECT_EQ(kv[7].first, "b.nerves_fw_vcs_identifier");
}

// Optional fields may be missing; required ones may not.
TEST(firmware_manifest, optional_and_required_fields) {
  EXPECT_TRUE(parse_firmware_manifest(manifest_with("")));
  auto m = sample();
  m.version.clear();
  EXPECT_FALSE(format_firmware_manifest(m));
  auto no_platform =
      "myelin-firmware=1\nmeta-product=demo\nmeta-version=1\n"
      "meta-architecture=x\nresource=rootfs.img 1 " +
      hash + "\n";
  auto r = parse_firmware_manifest(no_platform);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), static_cast<uint8_t>(firmware_file_errc::bad_manifest));
}

// Every kind of malformed manifest is refused with bad_manifest.
TEST(firmware_manifest, hostile_manifests_refused) {
  std::vector<std::pair<std::string, std::string>> cases{
      {"empty", ""},
      {"no newline at end", manifest_with("").substr(0, manifest_with("").size() - 1)},
      {"no format line", manifest_with("").substr(18)},
      {"other format", "myelin-firmware=2\n" + manifest_with("").substr(18)},
      {"unknown field", manifest_with("meta-colour=blue\n")},
      {"duplicate field", manifest_with("meta-product=again\n")},
      {"not key=value", manifest_with("just text\n")},
      {"empty key", manifest_with("=x\n")},
      {"control character", manifest_with("meta-misc=a\tb\n")},
      {"long value", manifest_with("meta-misc=" + std::string(1025, 'x') + "\n")},
      {"no rootfs", manifest_with("", "resource=other.img 1 " + hash + "\n")},
      {"resource twice", manifest_with("resource=rootfs.img 1 " + hash + "\n")},
      {"negative size", manifest_with("", "resource=rootfs.img -1 " + hash + "\n")},
      {"size with sign", manifest_with("", "resource=rootfs.img +1 " + hash + "\n")},
      {"size not a number", manifest_with("", "resource=rootfs.img 12a " + hash + "\n")},
      {"huge size", manifest_with("", "resource=rootfs.img 281474976710657 " + hash + "\n")},
      {"size overflow",
       manifest_with("", "resource=rootfs.img 99999999999999999999 " + hash + "\n")},
      {"empty size", manifest_with("", "resource=rootfs.img  " + hash + "\n")},
      {"short hash", manifest_with("", "resource=rootfs.img 1 abc\n")},
      {"uppercase hash", manifest_with("", "resource=rootfs.img 1 " + std::string(64, 'A') + "\n")},
      {"non-hex hash", manifest_with("", "resource=rootfs.img 1 " + std::string(64, 'g') + "\n")},
      {"missing hash", manifest_with("", "resource=rootfs.img 1\n")},
      {"extra word", manifest_with("", "resource=rootfs.img 1 " + hash + " x\n")},
      {"traversal", manifest_with("resource=../etc/passwd 1 " + hash + "\n")},
      {"absolute", manifest_with("resource=/etc/passwd 1 " + hash + "\n")},
      {"subdirectory", manifest_with("resource=a/b 1 " + hash + "\n")},
      {"dot file", manifest_with("resource=.hidden 1 " + hash + "\n")},
      {"dot dot", manifest_with("resource=.. 1 " + hash + "\n")},
      {"reserved name", manifest_with("resource=manifest.sig 1 " + hash + "\n")},
      {"backslash", manifest_with("resource=a\\b 1 " + hash + "\n")},
      {"too large", manifest_with("meta-misc=" + std::string(70000, 'x') + "\n")},
  };
  for (const auto& [name, text] : cases) {
    auto r = parse_firmware_manifest(text);
    EXPECT_FALSE(r) << name;
    if (!r) {
      EXPECT_EQ(r.error().category(), caf::atom("fwfile")) << name;
      EXPECT_EQ(r.error().code(), static_cast<uint8_t>(firmware_file_errc::bad_manifest)) << name;
    }
  }
}

// Values that could not be read back are refused when writing.
TEST(firmware_manifest, format_refuses_unreadable_values) {
  auto m = sample();
  m.description = "two\nlines";
  EXPECT_FALSE(format_firmware_manifest(m));
  m = sample();
  m.resources[1].name = "../x";
  EXPECT_FALSE(format_firmware_manifest(m));
  EXPECT_TRUE(valid_resource_name("rootfs.img"));
  EXPECT_FALSE(valid_resource_name("manifest"));
  EXPECT_FALSE(valid_resource_name(std::string(101, 'a')));
}

}  // namespace
