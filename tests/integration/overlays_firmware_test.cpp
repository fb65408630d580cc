// The overlays service owns the overlays across a firmware update (decision
// 0073): `myelin fw push` without --reboot leaves the running apps on their
// overlays (a crash restarts the app on the overlay, not on a deleted
// module); with --reboot the next boot clears them; a revert back to the
// slot they were made for keeps them.
#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/runtime/platform/signing.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using myelin::test::booted_device;
using myelin::test::run_myelin;
using myelin::test::temp_dir;
using json = nlohmann::json;

namespace {

const std::string base_greeting = "Hello from myelin, world!";
const std::string new_greeting = "Hello from pushed myelin, world!";

/// A signed firmware for the device's platform, and the device options that trust it.
struct firmware {
  temp_dir dir;
  std::string pub;
  std::string file;

  firmware() {
    auto keys = myelin::runtime::generate_key_pair();
    EXPECT_FALSE(myelin::runtime::write_key_pair(keys, (dir / "dev").string()));
    pub = myelin::runtime::format_public_key(keys.pub);
    std::string image(1 << 20, '\0');
    std::mt19937 gen{7};
    for (auto& c : image) {
      c = static_cast<char>(gen() & 0xff);
    }
    myelin::test::write_file(dir / "rootfs.img", image);
    file = (dir / "v2.fw").string();
    auto r = run_myelin({"fw", "create", "--key", (dir / "dev.key").string(), "--product", "demo",
                         "--version", "2.0.0", "--platform", "testboard", "--architecture",
                         "testarch", "--rootfs", (dir / "rootfs.img").string(), "-o", file});
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }

  std::vector<std::string> device_args() const {
    return {"--set", "firmware.trusted_keys=" + pub,   "--set", "firmware.platform=testboard",
            "--set", "firmware.architecture=testarch", "--set", "apps.fault.enabled=false",
            "--set", "apps.ticker.enabled=false",      "--set", "overlays.probation_s=0"};
  }
};

std::optional<std::string> call_hello(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(5s);
  auto res = cli.Post("/v1/apps/hello/call", R"({"command":"hello"})", "application/json");
  if (!res || res->status != 200) {
    return std::nullopt;
  }
  return json::parse(res->body)["reply"].get<std::string>();
}

/// Waits until hello answers `want`, up to 20 s; the last answer.
std::optional<std::string> wait_for_hello(int port, const std::string& want) {
  std::optional<std::string> last;
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    last = call_hello(port);
    if (last == want) {
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  return last;
}

json get_json(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Get(path);
  return res && res->status == 200 ? json::parse(res->body, nullptr, false) : json{};
}

/// Pushes hello_v2 the way a user does (an install tree, `myelin push`).
void push_v2(const booted_device& dev, const temp_dir& tree) {
  fs::create_directories(tree / "apps" / "hello");
  fs::copy_file(fs::path{MYELIN_TEST_APPS_DIR} / "hello_v2" / "libhello_v2.so",
                tree / "apps" / "hello" / "libhello.so", fs::copy_options::overwrite_existing);
  auto r =
      run_myelin({"push", "--device", dev.address(), "--build-dir", tree.path().string(), "hello"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(wait_for_hello(dev.port, new_greeting), new_greeting);
}

/// Kills hello's app host with SIGSEGV.
void crash_hello(const booted_device& dev) {
  std::string module;
  for (const auto& row : get_json(dev.port, "/v1/apps")) {
    if (row["name"] == "hello") {
      module = row["module"].get<std::string>();
    }
  }
  auto pids = myelin::test::run("pgrep -P " + std::to_string(dev.proc->pid()) + " -f -- " +
                                myelin::test::shell_quote("--module " + module));
  ASSERT_FALSE(pids.output.empty()) << module;
  myelin::test::run("kill -SEGV " + pids.output.substr(0, pids.output.find('\n')));
}

}  // namespace

// The reproduction of the bug two owners made: fw push without --reboot used
// to delete the overlay directories behind the live store, and the crashed
// app then failed with "libhello.so not found".
TEST(overlays_firmware, fw_push_without_reboot_keeps_the_running_overlays) {
  firmware fw;
  booted_device dev{fw.device_args()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  temp_dir tree;
  ASSERT_NO_FATAL_FAILURE(push_v2(dev, tree));
  auto r = run_myelin({"fw", "push", "--device", dev.address(), fw.file});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(get_json(dev.port, "/v1/overlays")["clear_at_boot"].get<bool>());
  ASSERT_NO_FATAL_FAILURE(crash_hello(dev));
  EXPECT_EQ(wait_for_hello(dev.port, new_greeting), new_greeting) << dev.proc->output();
  auto overview = get_json(dev.port, "/v1/overlays");
  EXPECT_EQ(overview["stack"].size(), 1u) << overview.dump();
  EXPECT_EQ(dev.proc->output().find("not found"), std::string::npos) << dev.proc->output();
}

// With --reboot the next boot runs the new firmware without the old one's
// overlays: the overlays service cleared them before any app started.
TEST(overlays_firmware, fw_push_with_reboot_clears_at_the_next_boot) {
  firmware fw;
  temp_dir state;
  temp_dir tree;
  {
    booted_device dev{fw.device_args(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    ASSERT_NO_FATAL_FAILURE(push_v2(dev, tree));
    auto r = run_myelin({"fw", "push", "--reboot", "--device", dev.address(), fw.file});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Host mode: a reboot stops myelin-boot.
    ASSERT_TRUE(dev.proc->wait(20s).has_value()) << dev.proc->output();
  }
  booted_device dev{fw.device_args(), state.path().string()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  EXPECT_NE(dev.proc->output().find("overlays: cleared"), std::string::npos) << dev.proc->output();
  auto overview = get_json(dev.port, "/v1/overlays");
  EXPECT_TRUE(overview["stack"].empty()) << overview.dump();
  EXPECT_FALSE(overview["clear_at_boot"].get<bool>());
  EXPECT_EQ(wait_for_hello(dev.port, base_greeting), base_greeting);
}

// A revert back to the slot the overlays were made for withdraws the clear:
// the next boot runs the same firmware, with its overlays.
TEST(overlays_firmware, revert_to_their_slot_keeps_them) {
  firmware fw;
  temp_dir state;
  temp_dir tree;
  {
    booted_device dev{fw.device_args(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    ASSERT_NO_FATAL_FAILURE(push_v2(dev, tree));
    ASSERT_EQ(run_myelin({"fw", "push", "--device", dev.address(), fw.file}).exit_code, 0);
    ASSERT_TRUE(get_json(dev.port, "/v1/overlays")["clear_at_boot"].get<bool>());
    auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", dev.address()});
    ASSERT_EQ(revert.exit_code, 0) << revert.output;
    EXPECT_FALSE(get_json(dev.port, "/v1/overlays")["clear_at_boot"].get<bool>());
    dev.proc->signal(SIGTERM);
    dev.proc->wait(20s);
  }
  booted_device dev{fw.device_args(), state.path().string()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  EXPECT_EQ(get_json(dev.port, "/v1/overlays")["stack"].size(), 1u);
  EXPECT_EQ(wait_for_hello(dev.port, new_greeting), new_greeting);
}
