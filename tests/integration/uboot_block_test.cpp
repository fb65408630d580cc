// The U-Boot environment on a real block device (a loop device), as on an
// eMMC: redundant copies at offsets, read and written by myelin and by the
// real tools. Needs root and loop devices; skips with the reason otherwise.
#include <memory>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/kv/uboot_env.hpp"
#include "myelin/test/support.hpp"

using myelin::test::run;
using myelin::test::shell_quote;
using namespace myelin::runtime;

namespace {

/// A loop device over a sparse file of `bytes`; detached on destruction, even
/// after a failure.
struct loop_disk {
  myelin::test::temp_dir dir;
  std::unique_ptr<myelin::test::loop_device> device;

  explicit loop_disk(size_t bytes) {
    auto img = (dir / "disk.img").string();
    run("truncate -s " + std::to_string(bytes) + " " + shell_quote(img));
    device = std::make_unique<myelin::test::loop_device>(img);
  }
};

}  // namespace

// Redundant environment at 64 KiB and 128 KiB of a block device: what
// mkenvimage put there reads back, what myelin writes fw_printenv reads, and
// fw_setenv's changes are seen.
TEST(uboot_block, redundant_env_on_loop_device) {
  MYELIN_REQUIRE_ROOT();
  if (run("command -v losetup && command -v mkenvimage && command -v fw_printenv").exit_code != 0) {
    GTEST_SKIP() << "needs losetup, mkenvimage and fw_printenv";
  }
  loop_disk disk(1 << 20);
  const auto& loop = *disk.device;
  if (loop.path().empty()) {
    GTEST_SKIP() << loop.why_not();
  }
  myelin::test::write_file(disk.dir / "env.txt", "nerves_fw_active=a\nbootcmd=run boot_a\n");
  auto one = (disk.dir / "env.bin").string();
  ASSERT_EQ(run("mkenvimage -r -s 0x4000 -o " + shell_quote(one) + " " +
                shell_quote((disk.dir / "env.txt").string()))
                .exit_code,
            0);
  for (const char* seek : {"4", "8"}) {  // 16 KiB blocks: offsets 0x10000, 0x20000
    ASSERT_EQ(run("dd if=" + shell_quote(one) + " of=" + shell_quote(loop.path()) +
                  " bs=16k seek=" + seek + " conv=notrunc,fsync status=none")
                  .exit_code,
              0);
  }
  auto config = (disk.dir / "fw_env.config").string();
  myelin::test::write_file(config,
                           loop.path() + " 0x10000 0x4000\n" + loop.path() + " 0x20000 0x4000\n");
  uboot_env_backend env(config);
  auto kv = env.read();
  ASSERT_TRUE(kv) << describe(kv.error());
  EXPECT_EQ(kv->at("bootcmd"), "run boot_a");
  ASSERT_FALSE(env.write({{"nerves_fw_active", "b"}, {"bootcmd", std::nullopt}}));
  EXPECT_EQ(run("fw_printenv -c " + shell_quote(config)).output, "nerves_fw_active=b\n");
  ASSERT_EQ(run("fw_setenv -c " + shell_quote(config) + " serial 42").exit_code, 0);
  kv = env.read();
  ASSERT_TRUE(kv);
  EXPECT_EQ(*kv, (kv_map{{"nerves_fw_active", "b"}, {"serial", "42"}}));
  // Too large for the 16 KiB copies: refused, the device unchanged.
  auto before = run("fw_printenv -c " + shell_quote(config)).output;
  auto err = env.write({{"blob", std::string(0x4000, 'x')}});
  ASSERT_TRUE(err);
  EXPECT_EQ(static_cast<kv_errc>(err.code()), kv_errc::too_large);
  EXPECT_EQ(run("fw_printenv -c " + shell_quote(config)).output, before);
}
