// Tests of runtime/src/kv/uboot_env.cpp against the real U-Boot tools: environments
// made by mkenvimage and changed by fw_setenv are read correctly, and what
// myelin writes reads back with fw_printenv.
#include "myelin/runtime/kv/uboot_env.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/kv/kv_store.hpp"
#include "myelin/runtime/kv/memory_kv.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::run;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

constexpr uint64_t env_size = 0x2000;

kv_errc code_of(const caf::error& err) {
  return static_cast<kv_errc>(err.code());
}

/// Skips unless the U-Boot tools are installed.
#define REQUIRE_UBOOT_TOOLS()                                                          \
  do {                                                                                 \
    if (run("command -v mkenvimage && command -v fw_printenv && command -v fw_setenv") \
            .exit_code != 0) {                                                         \
      GTEST_SKIP() << "needs mkenvimage (u-boot-tools) and fw_printenv/fw_setenv "     \
                      "(libubootenv-tool)";                                            \
    }                                                                                  \
  } while (false)

/// A U-Boot environment made by mkenvimage, single or redundant (two copies of
/// `env_size` bytes in one file), with its fw_env.config.
struct env_image {
  temp_dir dir;
  std::string image = (dir / "uboot.env").string();
  std::string config = (dir / "fw_env.config").string();

  env_image(const std::string& contents, bool redundant) {
    write_file(dir / "env.txt", contents);
    auto size = std::to_string(env_size);
    std::string cmd = "mkenvimage " + std::string(redundant ? "-r " : "") + "-s " + size + " -o " +
                      shell_quote(image + ".one") + " " + shell_quote((dir / "env.txt").string());
    auto r = run(cmd);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    if (redundant) {
      // Copy 1 = the image, copy 2 = the same image: both valid, same flag.
      run("cat " + shell_quote(image + ".one") + " " + shell_quote(image + ".one") + " > " +
          shell_quote(image));
      write_file(config, image + " 0x0 0x2000\n" + image + " 0x2000 0x2000\n");
    } else {
      run("cp " + shell_quote(image + ".one") + " " + shell_quote(image));
      write_file(config, image + " 0x0 0x2000\n");
    }
  }

  /// fw_printenv's view: the `key=value` lines.
  std::string printenv() const { return run("fw_printenv -c " + shell_quote(config)).output; }
};

}  // namespace

// An environment made by mkenvimage reads back key for key.
TEST(uboot_env, reads_single_env_from_mkenvimage) {
  REQUIRE_UBOOT_TOOLS();
  env_image env("nerves_fw_active=b\na.nerves_fw_version=1.0\nbootcmd=run boot_b\n", false);
  uboot_env_backend backend(env.config);
  auto kv = backend.read();
  ASSERT_TRUE(kv) << describe(kv.error());
  EXPECT_EQ(*kv, (kv_map{{"nerves_fw_active", "b"},
                         {"a.nerves_fw_version", "1.0"},
                         {"bootcmd", "run boot_b"}}));
}

// A redundant environment made by mkenvimage -r reads back.
TEST(uboot_env, reads_redundant_env_from_mkenvimage) {
  REQUIRE_UBOOT_TOOLS();
  env_image env("x=1\ny=two words\n", true);
  uboot_env_backend backend(env.config);
  auto kv = backend.read();
  ASSERT_TRUE(kv) << describe(kv.error());
  EXPECT_EQ(*kv, (kv_map{{"x", "1"}, {"y", "two words"}}));
}

// Changes made by fw_setenv are seen on the next read (nothing is cached).
TEST(uboot_env, reads_changes_made_by_fw_setenv) {
  REQUIRE_UBOOT_TOOLS();
  for (bool redundant : {false, true}) {
    env_image env("x=1\n", redundant);
    uboot_env_backend backend(env.config);
    auto r = run("fw_setenv -c " + shell_quote(env.config) + " y 2");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    r = run("fw_setenv -c " + shell_quote(env.config) + " x");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    auto kv = backend.read();
    ASSERT_TRUE(kv) << describe(kv.error());
    EXPECT_EQ(*kv, (kv_map{{"y", "2"}})) << "redundant=" << redundant;
  }
}

// What myelin writes (sets, deletes, merges) reads back with fw_printenv.
TEST(uboot_env, writes_read_back_by_fw_printenv) {
  REQUIRE_UBOOT_TOOLS();
  for (bool redundant : {false, true}) {
    env_image env("keep=me\ndrop=me\n", redundant);
    uboot_env_backend backend(env.config);
    ASSERT_FALSE(backend.write({{"new", "value with spaces"}, {"drop", std::nullopt}}));
    EXPECT_EQ(env.printenv(), "keep=me\nnew=value with spaces\n") << "redundant=" << redundant;
    // A second write goes to the other copy when redundant; still consistent.
    ASSERT_FALSE(backend.write({{"n2", "2"}}));
    EXPECT_EQ(env.printenv(), "keep=me\nn2=2\nnew=value with spaces\n");
  }
}

// A corrupted copy of a redundant environment falls back to the good one.
TEST(uboot_env, corrupted_redundant_copy_falls_back) {
  REQUIRE_UBOOT_TOOLS();
  env_image env("v=old\n", true);
  uboot_env_backend backend(env.config);
  // This write goes to one copy with a higher flag: it becomes the newer one.
  ASSERT_FALSE(backend.write({{"v", "new"}}));
  ASSERT_EQ(backend.read()->at("v"), "new");
  // Find the copy holding v=new and break its CRC.
  auto image = myelin::test::read_file(env.image);
  auto pos = image.find("v=new");
  ASSERT_NE(pos, std::string::npos);
  size_t copy_start = pos < env_size ? 0 : env_size;
  std::fstream f(env.image, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(copy_start));
  f.put(static_cast<char>(image[copy_start] ^ 0xFF));
  f.close();
  auto kv = backend.read();
  ASSERT_TRUE(kv) << describe(kv.error());
  EXPECT_EQ(kv->at("v"), "old");
  EXPECT_EQ(env.printenv(), "v=old\n");
}

// A write that does not fit gives too_large and keeps the old contents.
TEST(uboot_env, too_small_env_keeps_contents) {
  REQUIRE_UBOOT_TOOLS();
  for (bool redundant : {false, true}) {
    env_image env("a=1\n", redundant);
    uboot_env_backend backend(env.config);
    auto before = myelin::test::read_file(env.image);
    auto err = backend.write({{"big", std::string(env_size, 'x')}});
    ASSERT_TRUE(err);
    EXPECT_EQ(code_of(err), kv_errc::too_large);
    EXPECT_NE(describe(err).find("too small"), std::string::npos) << describe(err);
    EXPECT_EQ(myelin::test::read_file(env.image), before) << "redundant=" << redundant;
    EXPECT_EQ(env.printenv(), "a=1\n");
  }
}

// With no valid copy, reads fail with a reason and a write rebuilds the
// environment from the defaults (U-Boot's own variables) plus the new keys —
// never the new keys alone: without defaults it is refused, nothing written.
TEST(uboot_env, unreadable_env_write_rebuilds_from_defaults) {
  REQUIRE_UBOOT_TOOLS();
  for (bool redundant : {false, true}) {
    env_image env("a=1\n", redundant);
    // Overwrite every copy with garbage.
    auto garbage = std::string(redundant ? 2 * env_size : env_size, '\x5a');
    write_file(env.image, garbage);
    uboot_env_backend bare(env.config);
    auto kv = bare.read();
    ASSERT_FALSE(kv);
    EXPECT_EQ(code_of(kv.error()), kv_errc::unreadable);
    EXPECT_NE(describe(kv.error()).find("no copy has a valid CRC"), std::string::npos);
    auto refused = bare.write({{"fresh", "1"}});
    ASSERT_TRUE(refused);
    EXPECT_NE(describe(refused).find("without its own variables (bootcmd)"), std::string::npos);
    EXPECT_EQ(myelin::test::read_file(env.image), garbage);
    uboot_env_backend backend(env.config, {{"bootcmd", "run myboot"}, {"bootdelay", "2"}});
    ASSERT_FALSE(backend.write({{"fresh", "1"}, {"bootdelay", "0"}}));
    EXPECT_EQ(env.printenv(), "bootcmd=run myboot\nbootdelay=0\nfresh=1\n")
        << "redundant=" << redundant;
    EXPECT_NE(backend.notice().find("rebuilt from 2 default variable(s)"), std::string::npos);
  }
}

// A missing device is reported, never a crash; a missing plain file is
// created by the first write.
TEST(uboot_env, missing_device) {
  REQUIRE_UBOOT_TOOLS();
  temp_dir dir;
  auto config = (dir / "fw_env.config").string();
  write_file(config, "/dev/myelin-no-such-device 0x0 0x2000\n");
  uboot_env_backend dev(config);
  auto kv = dev.read();
  ASSERT_FALSE(kv);
  EXPECT_EQ(code_of(kv.error()), kv_errc::unreadable);
  EXPECT_NE(describe(kv.error()).find("/dev/myelin-no-such-device"), std::string::npos);
  auto err = dev.write({{"a", "1"}});
  ASSERT_TRUE(err);
  EXPECT_EQ(code_of(err), kv_errc::write_failed);

  auto file = (dir / "env.bin").string();
  write_file(config, file + " 0x0 0x2000\n" + file + " 0x2000 0x2000\n");
  uboot_env_backend plain(config);
  ASSERT_FALSE(plain.read());
  ASSERT_FALSE(plain.write({{"a", "1"}}));
  EXPECT_EQ(run("fw_printenv -c " + shell_quote(config)).output, "a=1\n");
}

// Keys with '=' or NUL, empty keys and values with NUL are refused; nothing
// is written.
TEST(uboot_env, invalid_keys_refused) {
  REQUIRE_UBOOT_TOOLS();
  env_image env("a=1\n", false);
  uboot_env_backend backend(env.config);
  auto before = myelin::test::read_file(env.image);
  for (const auto& bad : std::vector<kv_changes>{{{"a=b", "1"}},
                                                 {{std::string("a\0b", 3), "1"}},
                                                 {{"", "1"}},
                                                 {{"ok", std::string("x\0y", 3)}},
                                                 {{"fine", "1"}, {"bad=key", "2"}}}) {
    auto err = backend.write(bad);
    ASSERT_TRUE(err);
    EXPECT_EQ(code_of(err), kv_errc::invalid_key);
  }
  EXPECT_EQ(myelin::test::read_file(env.image), before);
}

// Malformed fw_env.config files are refused with the line.
TEST(uboot_env, bad_config_refused) {
  for (const auto& [text, needle] : std::vector<std::pair<std::string, std::string>>{
           {"", "no environment device"},
           {"# only a comment\n", "no environment device"},
           {"/dev/x 0x0\n", "c:1: expected"},
           {"/dev/x zero 0x2000\n", "bad offset"},
           {"/dev/x 0 0x2000 1 2 3\n", "expected"},
           {"/dev/x 0 0\n", "bad size"},
           {"/dev/x 0 0x2000\n/dev/y 0 0x4000\n", "same size"},
           {"/dev/x 0 0x2000\n/dev/y 0 0x2000\n/dev/z 0 0x2000\n", "at most two"}}) {
    auto devs = parse_fw_env_config(text, "c");
    ASSERT_FALSE(devs) << text;
    EXPECT_EQ(code_of(devs.error()), kv_errc::bad_config);
    EXPECT_NE(describe(devs.error()).find(needle), std::string::npos) << describe(devs.error());
  }
  auto ok = parse_fw_env_config("# c\n/dev/mtd0 0x0 0x1000 0x10000 1 # tail\n", "c");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->at(0).path, "/dev/mtd0");
  EXPECT_EQ(ok->at(0).sector_size, 0x10000u);
  uboot_env_backend missing("/nonexistent/fw_env.config");
  auto kv = missing.read();
  ASSERT_FALSE(kv);
  EXPECT_EQ(code_of(kv.error()), kv_errc::bad_config);
}

// Host mode: the file environment is created with its initial contents,
// persists across reopening (not re-seeded) and works with fw_printenv -c.
TEST(file_env, created_once_and_persists) {
  REQUIRE_UBOOT_TOOLS();
  temp_dir dir;
  auto state = (dir / "kv").string();
  auto first = open_file_env(state, 0x4000, {{"nerves_fw_active", "a"}});
  ASSERT_TRUE(first) << describe(first.error());
  ASSERT_FALSE((*first)->write({{"counter", "1"}}));
  auto second = open_file_env(state, 0x4000, {{"nerves_fw_active", "b"}});
  ASSERT_TRUE(second);
  auto kv = (*second)->read();
  ASSERT_TRUE(kv);
  EXPECT_EQ(*kv, (kv_map{{"counter", "1"}, {"nerves_fw_active", "a"}}));
  auto r = run("fw_printenv -c " + shell_quote(state + "/fw_env.config"));
  EXPECT_EQ(r.output, "counter=1\nnerves_fw_active=a\n");
}

// The Nerves API: get, get_all, get_active, get_all_active, put, put_active,
// reload.
TEST(kv_store, nerves_api) {
  REQUIRE_UBOOT_TOOLS();
  env_image env("nerves_fw_active=b\nb.nerves_fw_version=2.0\na.nerves_fw_version=1.0\n", true);
  kv_store kv(std::make_unique<uboot_env_backend>(env.config));
  ASSERT_FALSE(kv.last_error());
  EXPECT_EQ(kv.active_slot(), "b");
  EXPECT_EQ(kv.get("a.nerves_fw_version"), "1.0");
  EXPECT_EQ(kv.get("missing"), std::nullopt);
  EXPECT_EQ(kv.get_active("nerves_fw_version"), "2.0");
  EXPECT_EQ(kv.get_all_active(), (kv_map{{"nerves_fw_version", "2.0"}}));
  ASSERT_FALSE(kv.put({{"x", "1"}, {"y", "2"}}));
  ASSERT_FALSE(kv.put_active({{"nerves_fw_misc", "m"}}));
  EXPECT_EQ(kv.get("b.nerves_fw_misc"), "m");
  EXPECT_EQ(env.printenv(),
            "a.nerves_fw_version=1.0\nb.nerves_fw_misc=m\nb.nerves_fw_version=2.0\n"
            "nerves_fw_active=b\nx=1\ny=2\n");
  run("fw_setenv -c " + shell_quote(env.config) + " z 3");
  EXPECT_EQ(kv.get("z"), std::nullopt);
  ASSERT_FALSE(kv.reload());
  EXPECT_EQ(kv.get("z"), "3");
  EXPECT_EQ(code_of(kv.put("bad=key", "v")), kv_errc::invalid_key);
  EXPECT_EQ(code_of(kv.put_active({{"bad=key", "v"}})), kv_errc::invalid_key);
}

// A store whose environment is unreadable still starts, says why, and a put
// makes the environment valid again.
TEST(kv_store, unreadable_env_still_serves) {
  REQUIRE_UBOOT_TOOLS();
  env_image env("a=1\n", true);
  write_file(env.image, std::string(2 * env_size, '\0'));
  kv_store kv(std::make_unique<uboot_env_backend>(env.config, kv_map{{"bootcmd", "boot"}}));
  EXPECT_TRUE(kv.last_error());
  EXPECT_TRUE(kv.get_all().empty());
  EXPECT_EQ(kv.active_slot(), "a");
  ASSERT_FALSE(kv.put("a", "2"));
  EXPECT_FALSE(kv.last_error());
  EXPECT_EQ(kv.get("a"), "2");
  EXPECT_EQ(kv.get("bootcmd"), "boot");
  EXPECT_EQ(env.printenv(), "a=2\nbootcmd=boot\n");
  EXPECT_FALSE(kv.backend_notice().empty());
}

// The memory backend follows the same rules and starts from its initial map.
TEST(kv_store, memory_backend) {
  kv_store kv(std::make_unique<memory_kv_backend>(kv_map{{"nerves_fw_active", "a"}}));
  EXPECT_EQ(kv.backend_name(), "memory");
  ASSERT_FALSE(kv.put_active({{"nerves_fw_version", "3"}}));
  EXPECT_EQ(kv.get("a.nerves_fw_version"), "3");
  ASSERT_FALSE(kv.apply({{"a.nerves_fw_version", std::nullopt}}));
  EXPECT_EQ(kv.get("a.nerves_fw_version"), std::nullopt);
  EXPECT_EQ(code_of(kv.put("", "v")), kv_errc::invalid_key);
  EXPECT_EQ(code_of(kv.put("k", std::string("a\0b", 3))), kv_errc::invalid_key);
  EXPECT_EQ(kv.get_all(), (kv_map{{"nerves_fw_active", "a"}}));
}

// A write answers with the contents it wrote — what fw_printenv and a fresh
// read see — so the kv store does not read the environment again; a change
// made by fw_setenv meanwhile is part of them (the write reads first).
TEST(uboot_env, write_and_read_answers_what_was_written) {
  REQUIRE_UBOOT_TOOLS();
  for (bool redundant : {false, true}) {
    env_image env("nerves_fw_active=a\nbootcmd=run boot_a\n", redundant);
    uboot_env_backend backend(env.config);
    ASSERT_TRUE(backend.read());
    run("fw_setenv -c " + shell_quote(env.config) + " from_tool yes");
    auto written = backend.write_and_read({{"nerves_fw_active", "b"}, {"bootcmd", std::nullopt}});
    ASSERT_TRUE(written) << describe(written.error());
    EXPECT_EQ(*written, (kv_map{{"nerves_fw_active", "b"}, {"from_tool", "yes"}}));
    auto fresh = backend.read();
    ASSERT_TRUE(fresh);
    EXPECT_EQ(*written, *fresh);
    EXPECT_EQ(env.printenv(), "from_tool=yes\nnerves_fw_active=b\n");
  }
}
