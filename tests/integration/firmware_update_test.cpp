// End to end: signed firmware files made by the real `myelin fw create`, pushed
// with `myelin fw push` into a real myelin-boot (host mode, file slots), with
// every kind of bad input, kill -9 during streaming, and validate/revert cycles.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/runtime/platform/signing.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::child_process;
using myelin::test::read_file;
using myelin::test::reports_direct_io;
using myelin::test::resident_bytes;
using myelin::test::run;
using myelin::test::run_myelin;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using myelin::test::write_file;
namespace fs = std::filesystem;

namespace {

constexpr const char* platform = "testboard";
constexpr const char* arch = "testarch";

/// A signing key, a trusted key and an untrusted one, and test images.
struct firmware_workshop {
  temp_dir dir;
  std::string key;
  std::string pub;
  std::string other_key;
  std::string image;
  std::string image_data;

  explicit firmware_workshop(size_t image_size = 3 << 20) {
    auto keys = myelin::runtime::generate_key_pair();
    EXPECT_FALSE(myelin::runtime::write_key_pair(keys, (dir / "dev").string()));
    key = (dir / "dev.key").string();
    pub = myelin::runtime::format_public_key(keys.pub);
    auto other = myelin::runtime::generate_key_pair();
    EXPECT_FALSE(myelin::runtime::write_key_pair(other, (dir / "other").string()));
    other_key = (dir / "other.key").string();
    image = (dir / "rootfs.img").string();
    image_data = random_bytes(image_size, 1);
    write_file(image, image_data);
  }

  static std::string random_bytes(size_t n, unsigned seed) {
    std::mt19937 gen{seed};
    std::string s(n, '\0');
    for (auto& c : s) {
      c = static_cast<char>(gen() & 0xff);
    }
    return s;
  }

  /// Runs `myelin fw create`; returns the .fw path. `overrides` replace or
  /// add options (e.g. {"--key", other}).
  std::string create(const std::string& name, const std::string& version,
                     std::map<std::string, std::string> overrides = {}) {
    auto out = (dir / (name + ".fw")).string();
    std::map<std::string, std::string> opts{{"--key", key},
                                            {"--product", "myelin-demo"},
                                            {"--version", version},
                                            {"--platform", platform},
                                            {"--architecture", arch},
                                            {"--rootfs", image},
                                            {"--author", "Test Author"},
                                            {"--vcs", "abc123"},
                                            {"-o", out}};
    for (auto& [k, v] : overrides) {
      opts[k] = v;
    }
    std::vector<std::string> args{"fw", "create"};
    for (auto& [k, v] : opts) {
      args.push_back(k);
      args.push_back(v);
    }
    auto r = run_myelin(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
  }

  /// Device options: this workshop's key trusted, platform and architecture set.
  std::vector<std::string> device_args(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"--set", "firmware.trusted_keys=" + pub,
                                  "--set", std::string{"firmware.platform="} + platform,
                                  "--set", std::string{"firmware.architecture="} + arch};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }
};

/// Everything that must not change on bad input: the environment files (both
/// copies) and the running slot, byte for byte.
std::map<std::string, std::string> protected_state(const booted_device& dev) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dev.state + "/kv")) {
    out[e.path().string()] = read_file(e.path());
  }
  out["slot-a"] = read_file(dev.state + "/firmware/slot-a.img");
  return out;
}

/// Names what differs between two protected_state() snapshots.
void expect_unchanged(const std::map<std::string, std::string>& before,
                      const std::map<std::string, std::string>& after) {
  EXPECT_EQ(before.size(), after.size());
  for (const auto& [name, data] : before) {
    auto it = after.find(name);
    EXPECT_TRUE(it != after.end() && it->second == data) << name << " changed";
  }
}

std::string slot_b(const booted_device& dev) {
  return read_file(dev.state + "/firmware/slot-b.img");
}

/// A device whose running slot a holds a known image.
std::unique_ptr<booted_device> device_with_running_slot(const firmware_workshop& w,
                                                        std::vector<std::string> extra = {}) {
  auto state = std::make_unique<temp_dir>();
  fs::create_directories(state->path() / "firmware");
  write_file(state->path() / "firmware" / "slot-a.img", "the running firmware");
  auto dev =
      std::make_unique<booted_device>(w.device_args(std::move(extra)), state->path().string());
  dev->own_state = std::move(state);
  return dev;
}

nlohmann::json upload_status(const booted_device& dev) {
  httplib::Client cli{"127.0.0.1", dev.port};
  auto res = cli.Get("/v1/fw/upload/status");
  return res ? nlohmann::json::parse(res->body, nullptr, false) : nlohmann::json{};
}

std::string kv_list(const std::string& fw_env_config) {
  return run_myelin({"kv", "list", "--fw-env-config", fw_env_config}).output;
}

/// A copy of `fw` with one byte flipped at `offset` from the start or end.
std::string corrupt_copy(const std::string& fw, long offset, const std::string& out) {
  auto data = read_file(fw);
  auto pos = offset >= 0 ? static_cast<size_t>(offset) : data.size() + static_cast<size_t>(offset);
  data[pos] = static_cast<char>(data[pos] ^ 0x01);
  write_file(out, data);
  return out;
}

}  // namespace

// create -> info -> push: slot b holds the image, the KV the new metadata,
// b is active and unvalidated.
TEST(firmware_update, push_installs_into_inactive_slot) {
  firmware_workshop w;
  auto fw = w.create("v2", "2.0.0", {{"--description", "second release"}, {"--misc", "x=1"}});
  auto info = run_myelin({"fw", "info", fw, "--key", w.pub});
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_NE(info.output.find("version: 2.0.0\n"), std::string::npos) << info.output;
  EXPECT_NE(info.output.find("signature: verified"), std::string::npos) << info.output;
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto before = protected_state(*dev);
  // The device reads firmware files with its own tar reader: libarchive (and
  // the libxml2 and ICU it brings) is never mapped, not even by an install
  // (decision 0081).
  auto maps = [&dev] { return read_file("/proc/" + std::to_string(dev->proc->pid()) + "/maps"); };
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  ASSERT_EQ(push.exit_code, 0) << push.output << dev->proc->output();
  EXPECT_EQ(maps().find("libarchive"), std::string::npos);
  EXPECT_NE(push.output.find("installed myelin-demo 2.0.0 in slot b"), std::string::npos)
      << push.output;
  EXPECT_TRUE(slot_b(*dev) == w.image_data) << "slot b does not hold the image";
  EXPECT_EQ(read_file(dev->state + "/firmware/slot-a.img"), "the running firmware");
  auto kv = kv_list(dev->fw_env_config());
  for (const char* line :
       {"b.nerves_fw_product=myelin-demo\n", "b.nerves_fw_version=2.0.0\n",
        "b.nerves_fw_platform=testboard\n", "b.nerves_fw_architecture=testarch\n",
        "b.nerves_fw_author=Test Author\n", "b.nerves_fw_vcs_identifier=abc123\n",
        "b.nerves_fw_description=second release\n", "b.nerves_fw_misc=x=1\n",
        "nerves_fw_active=b\n", "nerves_fw_validated=0\n", "a.nerves_fw_version=0.1.0\n"}) {
    EXPECT_NE(kv.find(line), std::string::npos) << line << " missing in\n" << kv;
  }
  EXPECT_NE(kv.find("b.nerves_fw_uuid="), std::string::npos) << kv;
  auto status = run_myelin({"fw", "status", "--device", dev->address()});
  EXPECT_EQ(status.output, "active: b\nnext: a\nvalidation: unvalidated\n");
  auto progress = upload_status(*dev);
  EXPECT_EQ(progress["state"], "done");
  EXPECT_EQ(progress["bytes"], progress["total"]);
  EXPECT_EQ(progress["written"], w.image_data.size());
}

// A large image does not stay in the page cache once written: it goes around
// it (decision 0071) or each window on the disk is dropped (decision 0070),
// so an update does not push a small device's apps out of memory. The slot
// still holds every byte.
TEST(firmware_update, image_leaves_the_page_cache) {
  firmware_workshop w{64 << 20};
  auto fw = w.create("v2", "2.0.0");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  ASSERT_EQ(push.exit_code, 0) << push.output << dev->proc->output();
  auto slot = dev->state + "/firmware/slot-b.img";
  auto resident = resident_bytes(slot);
  // Written around the cache where the file system allows direct I/O
  // (decision 0071); else dropped window by window (decision 0070).
  auto direct = reports_direct_io(slot);
  EXPECT_LE(resident, direct ? size_t{2} << 20 : size_t{32} << 20)
      << resident << " bytes of the 64 MiB image still cached"
      << (direct ? " although its file system takes direct I/O" : "");
  EXPECT_TRUE(slot_b(*dev) == w.image_data) << "slot b does not hold the image";
}

// Each bad file or mismatch is refused with its reason; the KV and the running
// slot stay byte for byte, and files refused before writing leave slot b alone.
TEST(firmware_update, bad_input_changes_nothing) {
  firmware_workshop w;
  auto good = w.create("good", "2.0.0");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  write_file(dev->state + "/firmware/slot-b.img", "old slot b");
  auto before = protected_state(*dev);
  auto fw_size = static_cast<long>(fs::file_size(good));

  struct bad_case {
    std::string name;
    std::string file;
    std::string reason;
    bool slot_b_untouched;
  };
  std::vector<bad_case> cases;
  cases.push_back({"untrusted key", w.create("untrusted", "2.0.0", {{"--key", w.other_key}}),
                   "signature does not verify", true});
  cases.push_back({"tampered manifest", corrupt_copy(good, 600, (w.dir / "tm.fw").string()),
                   "signature does not verify", true});
  cases.push_back({"wrong platform", w.create("plat", "2.0.0", {{"--platform", "otherboard"}}),
                   "firmware is for otherboard/testarch", true});
  cases.push_back({"wrong architecture", w.create("arch", "2.0.0", {{"--architecture", "arm"}}),
                   "firmware is for testboard/arm", true});
  cases.push_back({"hash mismatch", corrupt_copy(good, -4000, (w.dir / "hm.fw").string()),
                   "has SHA-256", false});
  {
    auto data = read_file(good);
    write_file(w.dir / "trunc.fw", data.substr(0, data.size() / 2));
    cases.push_back({"truncated file", (w.dir / "trunc.fw").string(), "truncated", false});
  }
  write_file(w.dir / "garbage.fw", std::string(5000, 'x'));
  cases.push_back({"not an archive", (w.dir / "garbage.fw").string(), "firmware file", true});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    write_file(dev->state + "/firmware/slot-b.img", "old slot b");
    auto push = run_myelin({"fw", "push", "--device", dev->address(), c.file});
    EXPECT_EQ(push.exit_code, 1) << push.output;
    EXPECT_NE(push.output.find(c.reason), std::string::npos) << push.output;
    expect_unchanged(before, protected_state(*dev));
    if (c.slot_b_untouched) {
      EXPECT_TRUE(slot_b(*dev) == "old slot b") << "slot b was written";
    }
    EXPECT_EQ(upload_status(*dev)["state"], "failed");
  }
  // The same good file still installs afterwards.
  auto push = run_myelin({"fw", "push", "--device", dev->address(), good});
  EXPECT_EQ(push.exit_code, 0) << push.output;
  EXPECT_NE(fw_size, 0);
}

// An image larger than the slot, and a slot that cannot be written, are
// refused before anything is written.
TEST(firmware_update, oversized_and_unwritable_slot_refused) {
  firmware_workshop w;
  auto fw = w.create("big", "2.0.0");
  {
    auto dev = device_with_running_slot(w, {"--set", "firmware.file_slot_size_mb=1"});
    ASSERT_GT(dev->port, 0);
    auto before = protected_state(*dev);
    auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
    EXPECT_EQ(push.exit_code, 1);
    EXPECT_NE(push.output.find("does not fit slot"), std::string::npos) << push.output;
    expect_unchanged(before, protected_state(*dev));
    EXPECT_FALSE(fs::exists(dev->state + "/firmware/slot-b.img"));
  }
  {
    auto dev = device_with_running_slot(
        w, {"--set", "firmware.slots.b=/nonexistent-" + std::to_string(getpid()) + "/slot-b"});
    ASSERT_GT(dev->port, 0);
    auto before = protected_state(*dev);
    auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
    EXPECT_EQ(push.exit_code, 1);
    EXPECT_NE(push.output.find("No such file or directory"), std::string::npos) << push.output;
    expect_unchanged(before, protected_state(*dev));
  }
}

// The slot's file system fills up in the middle of the image (a real ext4 on
// a loop device: ENOSPC from a direct write): the push fails with the reason,
// and the KV and the running slot stay exactly as they were.
TEST(firmware_update, slot_full_midway_changes_nothing) {
  MYELIN_REQUIRE_ROOT();
  if (run("command -v mkfs.ext4").exit_code != 0) {
    GTEST_SKIP() << "needs mkfs.ext4";
  }
  firmware_workshop w;  // a 3 MiB image
  auto fw = w.create("v2", "2.0.0");
  temp_dir small;
  auto img = (small / "small.ext4").string();
  auto mnt = small / "mnt";
  fs::create_directories(mnt);
  ASSERT_EQ(run("truncate -s 4M " + shell_quote(img) + " && mkfs.ext4 -q -F " + shell_quote(img))
                .exit_code,
            0);
  auto mounted = run("mount -o loop " + shell_quote(img) + " " + shell_quote(mnt.string()));
  if (mounted.exit_code != 0) {
    GTEST_SKIP() << "cannot mount a loop file system: " << mounted.output;
  }
  struct unmount {
    std::string dir;
    ~unmount() { run("umount " + shell_quote(dir)); }  // the loop device goes with it
  } unmount_guard{mnt.string()};
  auto dev = device_with_running_slot(w, {"--set", "firmware.slots.b=" + (mnt / "b.img").string(),
                                          "--set", "firmware.file_slot_size_mb=16"});
  ASSERT_GT(dev->port, 0);
  auto before = protected_state(*dev);
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  EXPECT_EQ(push.exit_code, 1) << push.output;
  EXPECT_NE(push.output.find("No space left on device"), std::string::npos) << push.output;
  expect_unchanged(before, protected_state(*dev));
  EXPECT_EQ(upload_status(*dev)["state"], "failed");
}

/// A loop device over a file of `size` bytes of 'L' in `dir`.
std::unique_ptr<myelin::test::loop_device> loop_slot(const fs::path& dir, size_t size) {
  auto backing = dir / ("loop-" + std::to_string(getpid()) + ".img");
  write_file(backing, std::string(size, 'L'));
  return std::make_unique<myelin::test::loop_device>(backing);
}

// A loop device smaller than the image as slot b: refused as too large, the
// device's contents untouched.
TEST(firmware_update, tiny_loop_device_slot_refused) {
  firmware_workshop w;
  auto fw = w.create("big", "2.0.0");
  auto loop = loop_slot(w.dir.path(), 1 << 20);
  if (loop->path().empty()) {
    GTEST_SKIP() << loop->why_not();
  }
  auto dev = device_with_running_slot(w, {"--set", "firmware.slots.b=" + loop->path()});
  ASSERT_GT(dev->port, 0);
  auto before = protected_state(*dev);
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.output.find("does not fit slot " + loop->path() + " (1048576 bytes)"),
            std::string::npos)
      << push.output;
  expect_unchanged(before, protected_state(*dev));
  EXPECT_TRUE(read_file(loop->path()) == std::string(1 << 20, 'L'))
      << "the loop device was written";
}

// A block device as slot b: the image (whose size is not a multiple of the
// sector size, so its end goes through the page cache while the rest is
// written directly) lands byte for byte, the rest of the device is left
// alone, and b becomes active.
TEST(firmware_update, push_into_block_device_slot) {
  firmware_workshop w{(3 << 20) + 1234};
  auto fw = w.create("v2", "2.0.0");
  auto loop = loop_slot(w.dir.path(), 8 << 20);
  if (loop->path().empty()) {
    GTEST_SKIP() << loop->why_not();
  }
  auto dev = device_with_running_slot(w, {"--set", "firmware.slots.b=" + loop->path()});
  ASSERT_GT(dev->port, 0);
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  ASSERT_EQ(push.exit_code, 0) << push.output << dev->proc->output();
  auto slot = read_file(loop->path());
  ASSERT_EQ(slot.size(), size_t{8} << 20);
  EXPECT_TRUE(slot.compare(0, w.image_data.size(), w.image_data) == 0)
      << "slot b does not hold the image";
  EXPECT_TRUE(slot.find_first_not_of('L', w.image_data.size()) == std::string::npos)
      << "slot b was written past the image";
  auto status = run_myelin({"fw", "status", "--device", dev->address()});
  EXPECT_EQ(status.output, "active: b\nnext: a\nvalidation: unvalidated\n");
}

// A second upload while one runs gets 409; an upload that breaks off changes
// nothing, and the next push succeeds; a large body with Content-Length is 413.
TEST(firmware_update, busy_dropped_and_restarted) {
  firmware_workshop w;
  auto fw = w.create("v2", "2.0.0");
  auto data = read_file(fw);
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto before = protected_state(*dev);
  {
    // A raw chunked upload that sends half the file and then hangs up.
    httplib::Client first{"127.0.0.1", dev->port};
    std::atomic<bool> half_sent{false};
    std::atomic<bool> release{false};
    std::thread t([&] {
      first.Post(
          "/v1/fw/upload",
          [&](size_t offset, httplib::DataSink& sink) {
            if (offset >= data.size() / 2) {
              half_sent = true;
              while (!release) {
                std::this_thread::sleep_for(10ms);
              }
              return false;  // breaks the connection off mid-body
            }
            sink.write(data.data() + offset, std::min<size_t>(65536, data.size() / 2 - offset));
            return true;
          },
          "application/octet-stream");
    });
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!half_sent && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(half_sent);
    auto second = run_myelin({"fw", "push", "--device", dev->address(), fw});
    EXPECT_EQ(second.exit_code, 1);
    EXPECT_NE(second.output.find("another firmware upload is in progress"), std::string::npos)
        << second.output;
    release = true;
    t.join();
  }
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (upload_status(*dev)["state"] == "receiving" &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(upload_status(*dev)["state"], "failed");
  expect_unchanged(before, protected_state(*dev));
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  EXPECT_EQ(push.exit_code, 0) << push.output;
  EXPECT_TRUE(slot_b(*dev) == w.image_data);
}

// A plain Content-Length body (curl --data-binary) installs like the chunked
// one `myelin fw push` sends (decision 0064).
TEST(firmware_update, content_length_upload_installs) {
  firmware_workshop w;
  auto fw = w.create("v2", "2.0.0");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  httplib::Client cli{"127.0.0.1", dev->port};
  cli.set_read_timeout(30, 0);
  auto res = cli.Post("/v1/fw/upload", read_file(fw), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(slot_b(*dev) == w.image_data) << "slot b does not hold the image";
  EXPECT_NE(kv_list(dev->fw_env_config()).find("nerves_fw_active=b\n"), std::string::npos);
}

namespace {

/// Sends `request` as it is on a fresh connection and returns everything the
/// device answers until it closes the connection (or `timeout` passes).
std::string raw_exchange(int port, const std::string& request,
                         std::chrono::milliseconds timeout = 15s) {
  int fd = myelin::test::connect_loopback(port);
  if (fd < 0) {
    return "connect failed";
  }
  for (size_t sent = 0; sent < request.size();) {
    auto n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      break;
    }
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) {
      continue;
    }
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) {
      break;
    }
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", data.size());
  return size + data + "\r\n";
}

}  // namespace

// Hostile chunked framing on the upload endpoint: each is refused with what
// was wrong, the KV and both slots stay as they were, and the device goes on
// answering (the connection's own reader, not cpp-httplib's, parses it).
TEST(firmware_update, malformed_chunked_framing_refused) {
  firmware_workshop w;
  auto fw = read_file(w.create("v2", "2.0.0"));
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto before = protected_state(*dev);
  const std::string head =
      "POST /v1/fw/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  auto first = fw.substr(0, 300000);
  struct hostile {
    std::string name;
    std::string body;
    std::string reason;
  };
  std::vector<hostile> cases{
      {"not hex", chunk(first) + "zz\r\n", "does not start with a hex size"},
      {"bare LF", chunk(first) + "10\n", "bare LF"},
      {"size overflow", chunk(first) + "1000000000000000000\r\n", "more than 15 hex digits"},
      {"garbage after size", chunk(first) + "10 x\r\n", "garbage after the size"},
      {"endless header", chunk(first) + "1;" + std::string(10000, 'e'), "longer than 4096"},
      {"data longer than size", "10\r\n" + fw.substr(0, 40) + "\r\n", "longer than its size"},
      {"broken off in a chunk", "100000\r\n" + fw.substr(0, 5000), "broke off inside a chunk"},
      {"broken off in a header", chunk(first) + "12", "broke off in a chunk header"},
      {"no trailer end", chunk(first) + "0\r\nX-Check: 1\r\n", "broke off in the trailer"},
      {"bad trailer", chunk(first) + "0\r\nnot a field\r\n\r\n", "not a header field"},
      {"other coding", "", "unsupported Transfer-Encoding"},
  };
  for (const auto& c : cases) {
    auto request = c.name == "other coding"
                       ? "POST /v1/fw/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: "
                         "gzip\r\nContent-Length: 10\r\n\r\n0123456789"
                       : head + c.body;
    auto answer = raw_exchange(dev->port, request);
    EXPECT_NE(answer.find("HTTP/1.1 400"), std::string::npos) << c.name << ": " << answer;
    EXPECT_NE(answer.find(c.reason), std::string::npos) << c.name << ": " << answer;
    expect_unchanged(before, protected_state(*dev));
    EXPECT_EQ(upload_status(*dev)["state"], "failed") << c.name;
  }
  // A well-formed body in odd pieces (1-byte chunks, extensions, a trailer)
  // after all that installs.
  std::string body = chunk(fw.substr(0, 1)) + "3;ext=1\r\n" + fw.substr(1, 3) + "\r\n";
  for (size_t at = 4; at < fw.size(); at += 700001) {
    body += chunk(fw.substr(at, 700001));
  }
  body += "0\r\nX-Check: done\r\n\r\n";
  auto answer = raw_exchange(dev->port, head + body);
  EXPECT_NE(answer.find("HTTP/1.1 200"), std::string::npos) << answer;
  EXPECT_TRUE(slot_b(*dev) == w.image_data) << "slot b does not hold the image";
}

// kill -9 of the device at random points of an upload: after each, the KV
// either is the old one or switched to a complete, verified image — never a
// partial one.
TEST(firmware_update, kill_during_streaming_never_switches_to_partial_image) {
  firmware_workshop w{16 << 20};
  auto fw = w.create("v2", "2.0.0");
  std::mt19937 gen{static_cast<unsigned>(getpid())};
  int switched = 0;
  constexpr int trials = 20;
  for (int trial = 0; trial < trials; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    auto dev = device_with_running_slot(w);
    ASSERT_GT(dev->port, 0);
    auto env_config = dev->fw_env_config();
    auto before = kv_list(env_config);
    // Kill after a random number of received bytes, or (a third of the
    // trials) once the whole file arrived: while the slot syncs or the KV is
    // written, or after the switch.
    auto size = fs::file_size(fw);
    auto threshold = std::uniform_int_distribution<uint64_t>{0, size + size / 2}(gen);
    child_process push{{myelin::test::bin("myelin"), "fw", "push", "--device", dev->address(), fw}};
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto s = upload_status(*dev);
      if (!s.is_object()) {
        break;
      }
      auto state = s.value("state", "");
      bool reached = threshold <= size              ? s.value("bytes", uint64_t{0}) >= threshold
                     : threshold <= size + size / 4 ? state == "switching" || state == "done"
                                                    : state == "done";
      if (reached || state == "failed") {
        break;
      }
      std::this_thread::sleep_for(1ms);
    }
    dev->proc->signal(SIGKILL);
    dev->proc->wait(10s);
    push.wait(30s);
    auto after = kv_list(env_config);
    if (after == before) {
      continue;
    }
    ++switched;
    EXPECT_NE(after.find("nerves_fw_active=b\n"), std::string::npos) << after;
    EXPECT_NE(after.find("b.nerves_fw_version=2.0.0\n"), std::string::npos) << after;
    EXPECT_TRUE(slot_b(*dev) == w.image_data) << "switched to a partial image";
  }
  std::cout << "switched in " << switched << " of " << trials << " trials\n";
}

// validate / push again / revert / prevent-revert with real slots.
TEST(firmware_update, validate_revert_cycles) {
  firmware_workshop w;
  auto v2 = w.create("v2", "2.0.0");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto addr = dev->address();
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v2}).exit_code, 0);
  ASSERT_EQ(run_myelin({"fw", "validate", "--device", addr}).exit_code, 0);
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: b\nnext: b\nvalidation: validated\n");
  // v3 goes to slot a (b is running); the running slot b is not written.
  write_file(w.image, firmware_workshop::random_bytes(1 << 20, 7));
  auto v3 = w.create("v3", "3.0.0");
  auto b_before = slot_b(*dev);
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v3}).exit_code, 0);
  EXPECT_TRUE(slot_b(*dev) == b_before);
  EXPECT_TRUE(read_file(dev->state + "/firmware/slot-a.img") == read_file(w.image));
  auto kv = kv_list(dev->fw_env_config());
  EXPECT_NE(kv.find("a.nerves_fw_version=3.0.0\n"), std::string::npos) << kv;
  EXPECT_NE(kv.find("nerves_fw_active=a\n"), std::string::npos) << kv;
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: a\nnext: b\nvalidation: unvalidated\n");
  // Revert: back to b (validated, it ran before).
  ASSERT_EQ(run_myelin({"fw", "revert", "--no-reboot", "--device", addr}).exit_code, 0);
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: b\nnext: b\nvalidation: validated\n");
  // Prevent revert: slot a's metadata is gone and revert is refused.
  httplib::Client cli{"127.0.0.1", dev->port};
  auto res = cli.Post("/v1/fw/prevent-revert", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", addr});
  EXPECT_EQ(revert.exit_code, 1);
  EXPECT_NE(revert.output.find("no firmware to revert to"), std::string::npos) << revert.output;
}

namespace {

/// Sends the first half of `fw` chunked to POST /v1/fw/upload`query`, then
/// breaks the connection off; returns the HTTP status if one came back.
int truncated_upload(const booted_device& dev, const std::string& fw, const std::string& query) {
  auto data = read_file(fw);
  httplib::Client cli{"127.0.0.1", dev.port};
  auto res = cli.Post(("/v1/fw/upload" + query).c_str(),
                      [&](size_t offset, httplib::DataSink& sink) {
                        if (offset >= data.size() / 2) {
                          return false;
                        }
                        sink.write(data.data() + offset,
                                   std::min<size_t>(65536, data.size() / 2 - offset));
                        return true;
                      },
                      "application/octet-stream");
  // Wait for the device to finish with it. The client can return before the
  // device's handler even started (the status still shows the last push as
  // "done"), so wait for this upload's end: it fails either way.
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (upload_status(dev)["state"] != "failed" && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  return res ? res->status : 0;
}

}  // namespace

// Issue 19: v2 is pushed (slot b, unvalidated); slot a is its fallback. An
// upload now — truncated or whole — is refused before a byte is written, so
// slot a and its metadata stay, and revert brings back a intact.
TEST(firmware_update, upload_while_unvalidated_keeps_the_fallback) {
  firmware_workshop w;
  auto v2 = w.create("v2", "2.0.0");
  write_file(w.image, firmware_workshop::random_bytes(1 << 20, 9));
  auto v3 = w.create("v3", "3.0.0");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto addr = dev->address();
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v2}).exit_code, 0);
  auto slot_a = [&] { return read_file(dev->state + "/firmware/slot-a.img"); };
  auto kv_before = kv_list(dev->fw_env_config());
  EXPECT_NE(truncated_upload(*dev, v3, ""), 200);  // it broke off: no answer
  EXPECT_NE(upload_status(*dev).value("error", "").find("validate or revert first"),
            std::string::npos)
      << upload_status(*dev);
  auto whole = run_myelin({"fw", "push", "--device", addr, v3});
  EXPECT_EQ(whole.exit_code, 1);
  EXPECT_NE(whole.output.find("validate or revert first"), std::string::npos) << whole.output;
  EXPECT_EQ(slot_a(), "the running firmware");
  EXPECT_EQ(kv_list(dev->fw_env_config()), kv_before);
  auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", addr});
  ASSERT_EQ(revert.exit_code, 0) << revert.output;
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: a\nnext: a\nvalidation: validated\n");
  EXPECT_EQ(slot_a(), "the running firmware");
}

// With --force the fallback is overwritten on purpose — and its metadata is
// deleted before its first byte: a torn slot a is never chosen, by revert or
// by the next boot.
TEST(firmware_update, forced_upload_forgets_the_fallback_before_writing) {
  firmware_workshop w;
  auto v2 = w.create("v2", "2.0.0");
  write_file(w.image, firmware_workshop::random_bytes(1 << 20, 9));
  auto v3 = w.create("v3", "3.0.0");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto addr = dev->address();
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v2}).exit_code, 0);
  EXPECT_NE(truncated_upload(*dev, v3, "?force=1"), 200);
  EXPECT_EQ(upload_status(*dev)["state"], "failed");
  EXPECT_NE(read_file(dev->state + "/firmware/slot-a.img"), "the running firmware");
  auto kv = kv_list(dev->fw_env_config());
  EXPECT_EQ(kv.find("a.nerves_fw_"), std::string::npos) << kv;
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: b\nnext: b\nvalidation: unvalidated\n");
  auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", addr});
  EXPECT_EQ(revert.exit_code, 1);
  EXPECT_NE(revert.output.find("slot a holds no firmware to revert to"), std::string::npos)
      << revert.output;
  // The whole file, forced, installs.
  auto push = run_myelin({"fw", "push", "--force", "--device", addr, v3});
  ASSERT_EQ(push.exit_code, 0) << push.output;
  EXPECT_TRUE(read_file(dev->state + "/firmware/slot-a.img") == read_file(w.image));
}

namespace {

// v2 pushed and validated (slot b), then v3 pushed (slot a): a runs v3,
// unvalidated, and b holds v2 with its image recorded. `v2_image` is v2's
// rootfs.
void v3_over_validated_v2(firmware_workshop& w, std::string& v2_image,
                          std::unique_ptr<booted_device>& dev) {
  auto v2 = w.create("v2", "2.0.0");
  v2_image = w.image_data;
  write_file(w.image, firmware_workshop::random_bytes(1 << 20, 9));
  auto v3 = w.create("v3", "3.0.0");
  dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto addr = dev->address();
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v2}).exit_code, 0);
  ASSERT_EQ(run_myelin({"fw", "validate", "--device", addr}).exit_code, 0);
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v3}).exit_code, 0);
}

}  // namespace

// Revert checks the other slot's contents against the image recorded at
// install: a slot that was damaged since is refused, nothing changes.
TEST(firmware_update, revert_refuses_a_damaged_slot) {
  firmware_workshop w;
  std::string v2_image;
  std::unique_ptr<booted_device> dev;
  ASSERT_NO_FATAL_FAILURE(v3_over_validated_v2(w, v2_image, dev));
  auto addr = dev->address();
  auto kv = kv_list(dev->fw_env_config());
  EXPECT_NE(kv.find("b.myelin_rootfs_sha256="), std::string::npos) << kv;
  auto b_path = dev->state + "/firmware/slot-b.img";
  auto damaged = v2_image;
  damaged[damaged.size() / 2] ^= 0x10;
  write_file(b_path, damaged);
  auto before = kv_list(dev->fw_env_config());
  auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", addr});
  EXPECT_EQ(revert.exit_code, 1);
  EXPECT_NE(revert.output.find("does not hold the image installed there"), std::string::npos)
      << revert.output;
  EXPECT_EQ(kv_list(dev->fw_env_config()), before);
  write_file(b_path, v2_image);
  revert = run_myelin({"fw", "revert", "--no-reboot", "--device", addr});
  EXPECT_EQ(revert.exit_code, 0) << revert.output;
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: b\nnext: b\nvalidation: validated\n");
}

// Issue 19: the bootloader cannot hash a slot, so the boot does it for the
// bootloader. While the running firmware is unvalidated, a fallback slot that
// no longer holds its recorded image loses its metadata in the background:
// neither the next boot nor a revert can fall back to it. An intact one is
// left alone.
TEST(firmware_update, a_damaged_fallback_is_forgotten_at_boot) {
  firmware_workshop w;
  std::string v2_image;
  std::unique_ptr<booted_device> dev;
  ASSERT_NO_FATAL_FAILURE(v3_over_validated_v2(w, v2_image, dev));
  auto state = std::move(dev->own_state);
  // a runs v3, unvalidated; b (v2) is the fallback. A boot with b intact.
  auto reboot = [&] {
    dev->proc->signal(SIGTERM);
    ASSERT_TRUE(dev->proc->wait(20s).has_value());
    dev = std::make_unique<booted_device>(w.device_args(), state->path().string());
    ASSERT_GT(dev->port, 0);
  };
  auto before = kv_list(dev->fw_env_config());
  ASSERT_NO_FATAL_FAILURE(reboot());
  // The line may come before the ready line or after it.
  auto logged = [&](const std::string& what) {
    return dev->proc->output().find(what) != std::string::npos ||
           dev->proc->wait_for_line(what, 30s).has_value();
  };
  ASSERT_TRUE(logged("fallback slot b verified")) << dev->proc->output();
  EXPECT_EQ(kv_list(dev->fw_env_config()), before);
  EXPECT_EQ(run_myelin({"fw", "status", "--device", dev->address()}).output,
            "active: a\nnext: b\nvalidation: unvalidated\n");
  // Something overwrites one byte of b; the next boot finds it.
  auto damaged = v2_image;
  damaged[damaged.size() / 3] ^= 0x40;
  write_file(dev->state + "/firmware/slot-b.img", damaged);
  ASSERT_NO_FATAL_FAILURE(reboot());
  ASSERT_TRUE(logged("does not hold the image installed there")) << dev->proc->output();
  auto kv = kv_list(dev->fw_env_config());
  EXPECT_EQ(kv.find("b.nerves_fw_"), std::string::npos) << kv;
  EXPECT_EQ(kv.find("b.myelin_rootfs_"), std::string::npos) << kv;
  EXPECT_NE(kv.find("a.nerves_fw_version=3.0.0"), std::string::npos) << kv;
  EXPECT_EQ(run_myelin({"fw", "status", "--device", dev->address()}).output,
            "active: a\nnext: a\nvalidation: unvalidated\n");
  auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", dev->address()});
  EXPECT_EQ(revert.exit_code, 1) << revert.output;
}

// The startup guard validates unvalidated firmware once the apps ran cleanly.
TEST(firmware_update, startup_guard_validates) {
  firmware_workshop w;
  auto dev = device_with_running_slot(
      w, {"--set", "firmware.auto_validate_after_s=1", "--set",
          "kv.initial=nerves_fw_active=a,nerves_fw_validated=0,a.nerves_fw_platform=testboard,"
          "a.nerves_fw_architecture=testarch"});
  ASSERT_GT(dev->port, 0);
  auto deadline = std::chrono::steady_clock::now() + 60s;
  std::string status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = run_myelin({"fw", "status", "--device", dev->address()}).output;
    if (status.find("validation: validated") != std::string::npos) {
      break;
    }
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(status, "active: a\nnext: a\nvalidation: validated\n") << dev->proc->output();
}

// A malformed trusted key does not stop the device from booting; it is left
// out, and firmware is refused for want of a trusted key.
TEST(firmware_update, malformed_trusted_key_boots_and_refuses) {
  firmware_workshop w;
  auto fw = w.create("v2", "2.0.0");
  auto dev = device_with_running_slot(w, {"--set", "firmware.trusted_keys=ed25519:garbage"});
  ASSERT_GT(dev->port, 0) << dev->proc->output();
  auto before = protected_state(*dev);
  auto push = run_myelin({"fw", "push", "--device", dev->address(), fw});
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.output.find("no trusted keys"), std::string::npos) << push.output;
  expect_unchanged(before, protected_state(*dev));
}

// Over HTTPS with client certificates (control.tls): the push works with a
// certificate from the device's CA and is refused without one, changing nothing.
TEST(firmware_update, push_over_tls_needs_client_certificate) {
  if (run("command -v openssl").exit_code != 0) {
    GTEST_SKIP() << "needs the openssl command";
  }
  firmware_workshop w;
  auto fw = w.create("v2", "2.0.0");
  auto d = shell_quote(w.dir.path().string());
  std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  std::string script =
      "set -e; cd " + d + "; openssl req -x509" + ec +
      "-keyout ca.key -out ca.pem -days 2 -subj /CN=fw-test-ca;"
      "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext; openssl req" +
      ec +
      "-keyout server.key -out server.csr -subj /CN=device;"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-extfile san.ext -out server.pem; openssl req" +
      ec +
      "-keyout client.key -out client.csr -subj /CN=developer;"
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
      "-out client.pem";
  auto made = run("sh -c " + shell_quote(script));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  auto p = [&w](const char* name) { return (w.dir / name).string(); };
  auto dev = device_with_running_slot(
      w, {"--set", "control.tls=true", "--set", "control.cert=" + p("server.pem"), "--set",
          "control.key=" + p("server.key"), "--set", "control.client_ca=" + p("ca.pem")});
  ASSERT_GT(dev->port, 0) << dev->proc->output();
  auto before = protected_state(*dev);
  auto refused = run_myelin({"fw", "push", "--device", dev->address(), "--ca", p("ca.pem"), fw});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  expect_unchanged(before, protected_state(*dev));
  auto push = run_myelin({"fw", "push", "--device", dev->address(), "--ca", p("ca.pem"), "--cert",
                          p("client.pem"), "--key", p("client.key"), fw});
  ASSERT_EQ(push.exit_code, 0) << push.output;
  EXPECT_TRUE(slot_b(*dev) == w.image_data);
}

// Issue 18, anti-rollback: signed 2.0.0, then the same key's 1.0.0 and
// another product's 0.0.1, and a version that cannot be ordered — each
// refused from its signed manifest before a byte reaches the slot, nothing
// changed; the device config can allow a downgrade.
TEST(firmware_update, downgrades_and_other_products_refused) {
  firmware_workshop w;
  auto v2 = w.create("v2", "2.0.0");
  auto v1 = w.create("v1", "1.0.0");
  auto other = w.create("other", "9.0.0", {{"--product", "other-product"}});
  auto unordered = w.create("nightly", "2024.03");
  auto rc = w.create("rc", "2.0.0-rc.1");
  auto dev = device_with_running_slot(w);
  ASSERT_GT(dev->port, 0);
  auto addr = dev->address();
  ASSERT_EQ(run_myelin({"fw", "push", "--device", addr, v2}).exit_code, 0);
  ASSERT_EQ(run_myelin({"fw", "validate", "--device", addr}).exit_code, 0);
  // Slot a is the target now: what it holds and the environment must stay.
  auto before = protected_state(*dev);
  before["slot-b"] = slot_b(*dev);
  struct refused {
    std::string fw;
    std::string reason;
  };
  for (const auto& [fw, reason] :
       {refused{v1, "firmware 1.0.0 is older than the running 2.0.0"},
        refused{rc, "firmware 2.0.0-rc.1 is older than the running 2.0.0"},
        refused{other, "firmware of product 'other-product', this device runs 'myelin-demo'"},
        refused{unordered, "firmware version '2024.03' is not a semantic version"}}) {
    auto push = run_myelin({"fw", "push", "--device", addr, fw});
    EXPECT_NE(push.exit_code, 0) << fw;
    EXPECT_NE(push.output.find(reason), std::string::npos) << push.output;
    auto after = protected_state(*dev);
    after["slot-b"] = slot_b(*dev);
    expect_unchanged(before, after);
  }
  EXPECT_EQ(run_myelin({"fw", "status", "--device", addr}).output,
            "active: b\nnext: b\nvalidation: validated\n");
  // The same version again is not a downgrade.
  EXPECT_EQ(run_myelin({"fw", "push", "--device", addr, v2}).exit_code, 0);
  // A device configured to allow it takes the older firmware.
  auto lenient = device_with_running_slot(w, {"--set", "firmware.allow_downgrade=true"});
  ASSERT_GT(lenient->port, 0);
  ASSERT_EQ(run_myelin({"fw", "push", "--device", lenient->address(), v2}).exit_code, 0);
  ASSERT_EQ(run_myelin({"fw", "validate", "--device", lenient->address()}).exit_code, 0);
  auto down = run_myelin({"fw", "push", "--device", lenient->address(), v1});
  EXPECT_EQ(down.exit_code, 0) << down.output;
  EXPECT_NE(down.output.find("installed myelin-demo 1.0.0"), std::string::npos) << down.output;
}
