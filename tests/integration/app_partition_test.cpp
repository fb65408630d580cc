// The application partition on real loop devices: formatted when blank or
// corrupted, remounted read-write, left alone when fine, erased by a factory
// reset, and bad configurations that leave the boot going on a tmpfs; then
// myelin-boot itself with its partition. Needs root and loop devices; skips
// with the reason otherwise.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <memory>
#include <regex>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/partition/app_partition.hpp"
#include "myelin/runtime/partition/mount_table.hpp"
#include "myelin/test/support.hpp"

using myelin::test::run;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using myelin::test::write_file;
using namespace myelin::runtime;

namespace {

/// A loop device over a sparse file in a temporary directory, and a mount
/// target beside it. The destructor unmounts everything at the target and
/// detaches the device, also after a failed test.
struct loop_partition {
  temp_dir dir;
  std::unique_ptr<myelin::test::loop_device> loop;
  std::string device;
  std::string target;
  std::string why_not;

  explicit loop_partition(const char* size = "64M") {
    target = (dir / ("mnt-" + std::to_string(::getpid()))).string();
    auto img = (dir / "app.img").string();
    if (run("truncate -s " + std::string{size} + " " + shell_quote(img)).exit_code != 0) {
      why_not = "truncate failed";
      return;
    }
    loop = std::make_unique<myelin::test::loop_device>(img);
    device = loop->path();
    why_not = loop->why_not();
  }

  ~loop_partition() {
    // Top mounts first (a lazy unmount if something still holds it); the
    // device is detached after this body.
    for (int i = 0; i < 8 && mounted(); ++i) {
      if (run("umount " + shell_quote(target)).exit_code != 0) {
        run("umount -l " + shell_quote(target));
      }
    }
  }

  bool mounted() const {
    auto t = mount_table::load();
    return t && t->find_by_target(target).has_value();
  }

  std::optional<mount_entry> mount() const {
    auto t = mount_table::load();
    return t ? t->find_by_target(target) : std::nullopt;
  }

  mounted_partition_options options(const std::string& fstype = "ext4") const {
    mounted_partition_options o;
    o.device = device;
    o.target = target;
    o.fstype = fstype;
    return o;
  }

  int unmount() const { return run("umount " + shell_quote(target)).exit_code; }
};

#define REQUIRE_LOOP(loop)          \
  MYELIN_REQUIRE_ROOT();            \
  if ((loop).device.empty()) {      \
    GTEST_SKIP() << (loop).why_not; \
  }

/// Formats the loop partition (its first prepare), leaves `name` with
/// `content` on it and unmounts it: the starting point of the tests that
/// check what happens to existing data.
void format_with_file(loop_partition& loop, const std::string& name, const std::string& content) {
  ASSERT_EQ(make_mounted_partition(loop.options())->prepare().outcome,
            partition_outcome::formatted);
  write_file(std::filesystem::path{loop.target} / name, content);
  ASSERT_EQ(loop.unmount(), 0);
}

/// A fake mkfs.<type> in `dir` running `body` (a shell script).
void fake_mkfs(const temp_dir& dir, const std::string& fstype, const std::string& body) {
  auto path = dir / ("mkfs." + fstype);
  write_file(path, "#!/bin/sh\n" + body + "\n");
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
}

}  // namespace

// A blank partition (first boot) is formatted, then mounted read-write.
TEST(app_partition, blank_formatted_and_mounted) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  auto s = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::formatted) << s.summary();
  EXPECT_NE(s.reason.find("mount " + loop.device), std::string::npos) << s.reason;
  EXPECT_TRUE(s.durable);
  auto m = loop.mount();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->fstype, "ext4");
  EXPECT_FALSE(m->read_only);
  EXPECT_EQ(s.mount.target, m->target);
  write_file(std::filesystem::path{loop.target} / "hello", "world");
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "hello"), "world");
}

// A file system that mounts is mounted as it is: data kept, nothing formatted.
TEST(app_partition, unmounted_valid_mounted_with_data) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_NO_FATAL_FAILURE(format_with_file(loop, "keep", "me"));
  auto opts = loop.options();
  opts.options = "noatime";
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::mounted) << s.summary();
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "keep"), "me");
  ASSERT_TRUE(loop.mount());
  EXPECT_NE(loop.mount()->vfs_options.find("noatime"), std::string::npos);
}

// Mount options the kernel refuses (EINVAL, as for a bad superblock) do not
// lead to formatting: the partition is mounted without them, data kept, and
// the reason says so.
TEST(app_partition, bad_mount_options_keep_data) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_NO_FATAL_FAILURE(format_with_file(loop, "keep", "me"));
  auto opts = loop.options();
  opts.options = "nosuchoption=1";
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::mounted) << s.summary();
  EXPECT_NE(s.reason.find("app_partition.options 'nosuchoption=1' refused"), std::string::npos)
      << s.reason;
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "keep"), "me");
}

// A target that is a file: the mount is refused, nothing is formatted, and
// there is no tmpfs either (the state stays where it is).
TEST(app_partition, target_not_a_directory_refused) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_NO_FATAL_FAILURE(format_with_file(loop, "keep", "me"));
  auto opts = loop.options();
  opts.target = (loop.dir / "a-file").string();
  write_file(opts.target, "not a directory");
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable) << s.summary();
  EXPECT_NE(s.reason.find("formatting would not help"), std::string::npos) << s.reason;
  EXPECT_EQ(s.fallback, "root file system");
  // Still the old file system, data intact.
  auto again = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(again.outcome, partition_outcome::mounted) << again.summary();
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "keep"), "me");
}

// A corrupted ext4 superblock (offset 1024) makes the mount fail: reformatted.
TEST(app_partition, corrupted_superblock_reformatted) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_NO_FATAL_FAILURE(format_with_file(loop, "old", "data"));
  ASSERT_EQ(run("dd if=/dev/urandom of=" + shell_quote(loop.device) +
                " bs=1024 seek=1 count=1 conv=notrunc,fsync status=none")
                .exit_code,
            0);
  auto s = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::formatted) << s.summary();
  EXPECT_NE(s.summary().find("formatted because: mount " + loop.device), std::string::npos)
      << s.summary();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path{loop.target} / "old"));
  ASSERT_TRUE(loop.mount());
  EXPECT_FALSE(loop.mount()->read_only);
}

// Mounted read-only at the target: remounted read-write, data kept.
TEST(app_partition, read_only_remounted_rw) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_NO_FATAL_FAILURE(format_with_file(loop, "keep", "me"));
  ASSERT_EQ(
      run("mount -o ro " + shell_quote(loop.device) + " " + shell_quote(loop.target)).exit_code, 0);
  ASSERT_TRUE(loop.mount()->read_only);
  auto s = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::remounted_rw) << s.summary();
  ASSERT_TRUE(loop.mount());
  EXPECT_FALSE(loop.mount()->read_only);
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "keep"), "me");
  write_file(std::filesystem::path{loop.target} / "new", "ok");
}

// Issue 19: the kernel remounted the partition read-only (errors, or a
// write-protected card) and it cannot go read-write: never formatted — the
// data is kept, the state goes to the tmpfs fallback with the reason.
TEST(app_partition, read_only_that_stays_read_only_not_formatted) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_NO_FATAL_FAILURE(format_with_file(loop, "keep", "me"));
  ASSERT_EQ(
      run("mount -o ro " + shell_quote(loop.device) + " " + shell_quote(loop.target)).exit_code, 0);
  ASSERT_EQ(run("blockdev --setro " + shell_quote(loop.device)).exit_code, 0);
  auto s = make_mounted_partition(loop.options())->prepare();
  run("blockdev --setrw " + shell_quote(loop.device));
  EXPECT_EQ(s.outcome, partition_outcome::unavailable) << s.summary();
  EXPECT_NE(s.reason.find("read-only, not formatting"), std::string::npos) << s.reason;
  EXPECT_EQ(s.fallback, "tmpfs") << s.summary();
  for (int i = 0; i < 8 && loop.mounted(); ++i) {
    loop.unmount();
  }
  ASSERT_EQ(run("mount " + shell_quote(loop.device) + " " + shell_quote(loop.target)).exit_code, 0);
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "keep"), "me");
}

// Issue 19: an I/O error while mounting (a dying card: here a FUSE file that
// fails reads with EIO, under a loop device) is retried, then the boot goes
// on with a tmpfs and the reason — never a reformat that would wipe the data.
TEST(app_partition, io_error_on_mount_not_formatted) {
  MYELIN_REQUIRE_ROOT();
#ifndef MYELIN_FAULTY_DISK
  GTEST_SKIP() << "built without libfuse3 (tests/tools/faulty_disk.cpp)";
#else
  if (::access("/dev/fuse", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "/dev/fuse is not usable here";
  }
  temp_dir dir;
  auto backing = (dir / "backing.img").string();
  ASSERT_EQ(run("truncate -s 64M " + shell_quote(backing) +
                " && PATH=$PATH:/sbin:/usr/sbin "
                "mkfs.ext4 -q -F " +
                shell_quote(backing))
                .exit_code,
            0);
  auto staging = (dir / "staging").string();
  std::filesystem::create_directories(staging);
  ASSERT_EQ(
      run("mount -o loop " + shell_quote(backing) + " " + shell_quote(staging) +
          " && echo data > " + shell_quote(staging + "/old") + " && umount " + shell_quote(staging))
          .exit_code,
      0);
  auto fuse_dir = (dir / "fuse").string();
  std::filesystem::create_directories(fuse_dir);
  myelin::test::child_process disk({MYELIN_FAULTY_DISK, backing, fuse_dir});
  for (int i = 0; i < 500 && !std::filesystem::exists(fuse_dir + "/disk"); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  ASSERT_TRUE(std::filesystem::exists(fuse_dir + "/disk")) << disk.output();
  auto target = (dir / "mnt").string();
  {
    myelin::test::loop_device loop{fuse_dir + "/disk"};
    ASSERT_TRUE(loop.why_not().empty()) << loop.why_not();
    write_file(backing + ".fail", "");
    run("blockdev --flushbufs " + shell_quote(loop.path()) + "; echo 3 > /proc/sys/vm/drop_caches");
    mounted_partition_options o;
    o.device = loop.path();
    o.target = target;
    o.io_retry_delay = std::chrono::milliseconds{10};
    auto s = make_mounted_partition(o)->prepare();
    EXPECT_EQ(s.outcome, partition_outcome::unavailable) << s.summary();
    EXPECT_NE(s.reason.find("not formatting (the data is kept)"), std::string::npos) << s.reason;
    EXPECT_EQ(s.fallback, "tmpfs") << s.summary();
    run("umount " + shell_quote(target));
    std::filesystem::remove(backing + ".fail");
  }
  ::kill(disk.pid(), SIGTERM);
  disk.wait(std::chrono::seconds{10});
  run("fusermount3 -u " + shell_quote(fuse_dir) + " 2>/dev/null");
  // The file system and its file are as they were.
  ASSERT_EQ(run("mount -o loop " + shell_quote(backing) + " " + shell_quote(staging)).exit_code, 0);
  EXPECT_EQ(myelin::test::read_file(staging + "/old"), "data\n");
  run("umount " + shell_quote(staging));
#endif
}

// Already mounted read-write, even found through a symlink to the device (as
// /dev/disk/by-label/...): left alone, same mount, data kept.
TEST(app_partition, mounted_rw_left_alone) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_EQ(make_mounted_partition(loop.options())->prepare().outcome,
            partition_outcome::formatted);
  write_file(std::filesystem::path{loop.target} / "keep", "me");
  auto before = loop.mount();
  ASSERT_TRUE(before);
  auto link = (loop.dir / "by-label-APPDATA").string();
  std::filesystem::create_symlink(loop.device, link);
  auto opts = loop.options();
  opts.device = link;
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::already_mounted) << s.summary();
  EXPECT_EQ(loop.mount()->id, before->id);
  EXPECT_EQ(myelin::test::read_file(std::filesystem::path{loop.target} / "keep"), "me");
}

// Factory reset unmounts the partition and wipes its superblock: the next
// prepare (the next boot) reformats it and the data is gone.
TEST(app_partition, factory_reset_next_mount_reformats) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  auto p = make_mounted_partition(loop.options());
  ASSERT_EQ(p->prepare().outcome, partition_outcome::formatted);
  write_file(std::filesystem::path{loop.target} / "user-data", "secret");
  auto err = p->erase();
  ASSERT_FALSE(err) << describe(err);
  EXPECT_TRUE(p->status().erased);
  EXPECT_FALSE(loop.mounted());
  auto next = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(next.outcome, partition_outcome::formatted) << next.summary();
  EXPECT_FALSE(std::filesystem::exists(std::filesystem::path{loop.target} / "user-data"));
}

// Factory reset while a file on the partition is held open: the unmount is
// lazy, and the wipe still makes the next prepare reformat.
TEST(app_partition, factory_reset_while_busy) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  auto p = make_mounted_partition(loop.options());
  ASSERT_EQ(p->prepare().outcome, partition_outcome::formatted);
  auto file = std::filesystem::path{loop.target} / "open";
  write_file(file, "x");
  {
    FILE* held = std::fopen(file.c_str(), "a");
    ASSERT_NE(held, nullptr);
    auto err = p->erase();
    EXPECT_FALSE(err) << describe(err);
    std::fputs("written after the reset", held);
    std::fclose(held);
  }
  EXPECT_FALSE(loop.mounted());
  auto next = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(next.outcome, partition_outcome::formatted) << next.summary();
  EXPECT_FALSE(std::filesystem::exists(file));
}

// Another file system left at the target (a tmpfs of an earlier fallback) is
// replaced by the partition.
TEST(app_partition, foreign_mount_replaced) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  std::filesystem::create_directories(loop.target);
  ASSERT_EQ(run("mount -t tmpfs tmpfs " + shell_quote(loop.target)).exit_code, 0);
  auto s = make_mounted_partition(loop.options())->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::formatted) << s.summary();
  ASSERT_TRUE(loop.mount());
  EXPECT_EQ(loop.mount()->fstype, "ext4");
}

// vfat is formatted with mkfs.vfat (dosfstools) when the kernel has vfat;
// when it has not (no such module), formatting cannot help: the partition is
// unavailable and left untouched.
TEST(app_partition, vfat_formatted_or_refused) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  if (run("PATH=$PATH:/sbin:/usr/sbin command -v mkfs.vfat").exit_code != 0) {
    GTEST_SKIP() << "mkfs.vfat is missing (dosfstools)";
  }
  auto s = make_mounted_partition(loop.options("vfat"))->prepare();
  if (run("grep -qw vfat /proc/filesystems").exit_code == 0) {
    EXPECT_EQ(s.outcome, partition_outcome::formatted) << s.summary();
    ASSERT_TRUE(loop.mount());
    EXPECT_EQ(loop.mount()->fstype, "vfat");
    return;
  }
  EXPECT_EQ(s.outcome, partition_outcome::unavailable) << s.summary();
  EXPECT_NE(s.reason.find("formatting would not help"), std::string::npos) << s.reason;
  // Still blank: mkfs never ran.
  EXPECT_EQ(run("cmp -n 65536 " + shell_quote(loop.device) + " /dev/zero").exit_code, 0);
}

// No such device: unavailable with the reason, nothing formatted, and a
// tmpfs at the target keeps the state directory usable this boot.
TEST(app_partition, missing_device_falls_back_to_tmpfs) {
  MYELIN_REQUIRE_ROOT();
  loop_partition loop;
  auto opts = loop.options();
  opts.device = (loop.dir / "no-such-device").string();
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_NE(s.reason.find("no-such-device: No such file or directory"), std::string::npos)
      << s.reason;
  EXPECT_EQ(s.fallback, "tmpfs");
  EXPECT_FALSE(s.durable);
  ASSERT_TRUE(loop.mount());
  EXPECT_EQ(loop.mount()->fstype, "tmpfs");
  EXPECT_NE(s.summary().find("lost at power off"), std::string::npos);
}

// An unknown file system type: unavailable, the device left untouched.
TEST(app_partition, unknown_fstype_untouched) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  ASSERT_EQ(run("dd if=/dev/urandom of=" + shell_quote(loop.device) +
                " bs=4096 count=1 conv=notrunc,fsync status=none")
                .exit_code,
            0);
  auto head = [&loop] {
    return run("head -c 65536 " + shell_quote(loop.device) + " | sha256sum").output;
  };
  auto before = head();
  auto s = make_mounted_partition(loop.options("btrfs"))->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_NE(s.reason.find("app_partition.fstype 'btrfs' is not one of ext4, vfat, f2fs"),
            std::string::npos)
      << s.reason;
  EXPECT_EQ(s.fallback, "tmpfs");
  EXPECT_EQ(head(), before);
}

// mkfs missing: the blank partition stays blank, the reason says which
// program and package are missing.
TEST(app_partition, mkfs_missing_unavailable) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  temp_dir empty;
  auto opts = loop.options();
  opts.mkfs_dirs = {empty.path().string()};
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_NE(s.reason.find("mkfs.ext4 not found (install e2fsprogs"), std::string::npos) << s.reason;
  EXPECT_EQ(s.fallback, "tmpfs");
}

// mkfs failing: its exit code and last output lines are in the reason.
TEST(app_partition, mkfs_failure_reported) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  temp_dir bin;
  fake_mkfs(bin, "ext4", "echo 'mke2fs: the medium is on fire' >&2; exit 3");
  auto opts = loop.options();
  opts.mkfs_dirs = {bin.path().string()};
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_NE(s.reason.find("exit 3: mke2fs: the medium is on fire"), std::string::npos) << s.reason;
}

// A hung mkfs is killed at its time limit (by process group).
TEST(app_partition, mkfs_time_limit) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  temp_dir bin;
  fake_mkfs(bin, "ext4", "exec sleep 600");
  auto opts = loop.options();
  opts.mkfs_dirs = {bin.path().string()};
  opts.mkfs_timeout = std::chrono::milliseconds{300};
  auto s = make_mounted_partition(opts)->prepare();
  EXPECT_EQ(s.outcome, partition_outcome::unavailable);
  EXPECT_NE(s.reason.find("killed after 300 ms"), std::string::npos) << s.reason;
}

namespace {

nlohmann::json get_partition(int port) {
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Get("/v1/app-partition");
  if (!res || res->status != 200) {
    return nullptr;
  }
  return nlohmann::json::parse(res->body, nullptr, false);
}

std::vector<std::string> partition_args(const loop_partition& loop, const std::string& device) {
  return {"--set", "app_partition.enabled=true",         "--set", "app_partition.device=" + device,
          "--set", "app_partition.target=" + loop.target};
}

}  // namespace

// myelin-boot formats its blank partition before the core services, puts its
// state there and reports it; a factory reset over the control channel erases
// it, and the next boot formats it again.
TEST(app_partition, boot_formats_then_factory_reset_erases) {
  loop_partition loop;
  REQUIRE_LOOP(loop);
  auto state = loop.target + "/myelin";
  {
    myelin::test::booted_device dev(partition_args(loop, loop.device), state);
    ASSERT_NE(dev.port, 0) << dev.proc->output();
    EXPECT_NE(dev.proc->output().find("app partition: formatted because: mount " + loop.device),
              std::string::npos)
        << dev.proc->output();
    auto doc = get_partition(dev.port);
    ASSERT_TRUE(doc.is_object());
    EXPECT_EQ(doc.value("outcome", ""), "formatted");
    EXPECT_EQ(doc.value("kind", ""), "mount");
    EXPECT_TRUE(doc.value("durable", false));
    EXPECT_EQ(doc["mount"].value("fstype", ""), "ext4");
    EXPECT_TRUE(std::filesystem::is_directory(state + "/kv"));
    auto st = myelin::test::run_myelin({"status", "--device", dev.address()});
    EXPECT_NE(st.output.find("storage:  formatted because"), std::string::npos) << st.output;

    httplib::Client cli("127.0.0.1", dev.port);
    auto res = cli.Post("/v1/fw/factory-reset", "{}", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    // Host mode has no reboot command: the immediate reboot only stops.
    auto status = dev.proc->wait(std::chrono::seconds{30});
    ASSERT_TRUE(status) << dev.proc->output();
  }
  EXPECT_FALSE(loop.mounted());
  {
    myelin::test::booted_device dev(partition_args(loop, loop.device), state);
    ASSERT_NE(dev.port, 0) << dev.proc->output();
    EXPECT_NE(dev.proc->output().find("app partition: formatted because"), std::string::npos)
        << dev.proc->output();
    dev.proc->signal(SIGTERM);
    EXPECT_TRUE(dev.proc->wait(std::chrono::seconds{30}));
  }
}

// A partition that cannot be had (no such device) does not stop the boot:
// the log says so loudly, the state lives on a tmpfs, the status says
// unavailable, and the device can still be controlled.
TEST(app_partition, boot_continues_without_partition) {
  MYELIN_REQUIRE_ROOT();
  loop_partition loop;
  auto state = loop.target + "/myelin";
  myelin::test::booted_device dev(partition_args(loop, (loop.dir / "missing").string()), state);
  ASSERT_NE(dev.port, 0) << dev.proc->output();
  EXPECT_NE(dev.proc->output().find("app partition: UNAVAILABLE: device "), std::string::npos)
      << dev.proc->output();
  auto doc = get_partition(dev.port);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("outcome", ""), "unavailable");
  EXPECT_EQ(doc.value("fallback", ""), "tmpfs");
  EXPECT_FALSE(doc.value("durable", true));
  ASSERT_TRUE(loop.mount());
  EXPECT_EQ(loop.mount()->fstype, "tmpfs");
  auto st = myelin::test::run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(st.output.find("storage:  UNAVAILABLE"), std::string::npos) << st.output;
  dev.proc->signal(SIGTERM);
  EXPECT_TRUE(dev.proc->wait(std::chrono::seconds{30}));
}

// Host mode (the partition off): the route reports the plain directory, and
// ignores or refuses what is sent around it.
TEST(app_partition, boot_host_mode_directory) {
  myelin::test::booted_device dev;
  ASSERT_NE(dev.port, 0) << dev.proc->output();
  auto doc = get_partition(dev.port);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc.value("kind", ""), "directory");
  EXPECT_EQ(doc.value("outcome", ""), "directory");
  EXPECT_EQ(doc.value("target", ""), dev.state);
  // The route takes no input: junk around it changes nothing.
  httplib::Client cli("127.0.0.1", dev.port);
  auto q = cli.Get("/v1/app-partition?outcome=formatted&%00=%ff");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->status, 200);
  EXPECT_EQ(nlohmann::json::parse(q->body, nullptr, false).value("outcome", ""), "directory");
  auto post = cli.Post("/v1/app-partition", std::string(100000, '{'), "application/json");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 404);
  auto deeper = cli.Get("/v1/app-partition/../../etc/passwd");
  ASSERT_TRUE(deeper);
  EXPECT_EQ(deeper->status, 404);
  dev.proc->signal(SIGTERM);
  EXPECT_TRUE(dev.proc->wait(std::chrono::seconds{30}));
}
