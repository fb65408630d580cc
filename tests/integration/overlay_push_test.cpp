// End to end: `myelin push` against a real myelin-boot in host mode. A new
// module answers after a push; whiteouts delete priv files; pushing the base
// reverts; a version that segfaults on start is rolled back and the host is
// told why; bad pushes change nothing; kill -9 at any point of apply leaves
// the old or the new stack, and the apps run after a restart. Across a
// firmware update the running firmware keeps its overlays and the next boot
// of the new one clears them.
#include <sys/mount.h>
#include <sys/wait.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"
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

fs::path test_module(const std::string& name) {
  return fs::path{MYELIN_TEST_APPS_DIR} / name / ("lib" + name + ".so");
}

fs::path base_module() {
  return myelin::test::bin_dir().parent_path() / "apps" / "hello" / "libhello.so";
}

/// Only the hello app: quick boots.
std::vector<std::string> hello_only(std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"--set", "apps.fault.enabled=false", "--set",
                                "apps.ticker.enabled=false"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

/// An install tree <dir>/apps/hello/ holding `module` as libhello.so.
void install(const fs::path& dir, const fs::path& module) {
  fs::create_directories(dir / "apps" / "hello");
  fs::copy_file(module, dir / "apps" / "hello" / "libhello.so",
                fs::copy_options::overwrite_existing);
}

std::optional<std::string> call_hello(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(5s);
  auto res = cli.Post("/v1/apps/hello/call", R"({"command":"hello"})", "application/json");
  if (!res || res->status != 200) {
    return std::nullopt;
  }
  return json::parse(res->body)["reply"].get<std::string>();
}

json get_json(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Get(path);
  if (!res || res->status != 200) {
    return {};
  }
  return json::parse(res->body, nullptr, false);
}

/// hello's row of GET /v1/apps.
json hello_row(int port) {
  for (const auto& row : get_json(port, "/v1/apps")) {
    if (row["name"] == "hello") {
      return row;
    }
  }
  return {};
}

/// Waits until hello answers (anything), up to 20 s.
std::optional<std::string> wait_for_hello(int port) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto r = call_hello(port)) {
      return r;
    }
    std::this_thread::sleep_for(20ms);
  }
  return std::nullopt;
}

myelin::test::command_result push(const booted_device& dev, const fs::path& build_dir,
                                  std::vector<std::string> extra = {}) {
  std::vector<std::string> args{"push", "--device", dev.address(), "--build-dir",
                                build_dir.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  if (std::find(extra.begin(), extra.end(), "hello") == extra.end()) {
    args.push_back("hello");
  }
  return run_myelin(args);
}

/// Everything under the device's overlay directories.
std::map<std::string, std::string> overlay_files(const std::string& state) {
  std::map<std::string, std::string> out;
  for (const auto& d : {fs::path{state} / "overlays", fs::path{state} / "run" / "overlays"}) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it{d, ec}, end; !ec && it != end; it.increment(ec)) {
      out[it->path().string()] =
          it->is_regular_file() ? myelin::test::read_file(it->path()) : std::string{"dir"};
    }
  }
  return out;
}

}  // namespace

// A pushed module answers at once; priv files come and go (whiteouts);
// pushing the base build again restores the base hash and greeting.
TEST(overlay_push, push_whiteout_and_revert) {
  booted_device dev{hello_only()};
  ASSERT_TRUE(dev.apps_ready());
  ASSERT_EQ(wait_for_hello(dev.port), base_greeting);
  auto base_hash = get_json(dev.port, "/v1/overlays")["apps"]["hello"].get<std::string>();
  temp_dir tree;

  install(tree.path(), test_module("hello_v2"));
  auto r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("hello: 1 changed, 0 removed"), std::string::npos) << r.output;
  EXPECT_EQ(call_hello(dev.port), new_greeting);
  auto row = hello_row(dev.port);
  EXPECT_NE(row["module"].get<std::string>().find("/views/hello-"), std::string::npos);
  EXPECT_EQ(row["hash"], get_json(dev.port, "/v1/overlays")["apps"]["hello"]);
  EXPECT_NE(row["hash"], base_hash);

  // Nothing changed: nothing is sent.
  r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("up to date"), std::string::npos) << r.output;

  // A priv file, then its whiteout.
  fs::create_directories(tree.path() / "apps/hello/priv");
  myelin::test::write_file(tree.path() / "apps/hello/priv/note.txt", "note");
  r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(get_json(dev.port, "/v1/overlays/apps/hello")["files"].count("priv/note.txt"), 1u);
  fs::remove(tree.path() / "apps/hello/priv/note.txt");
  r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 changed, 1 removed"), std::string::npos) << r.output;
  EXPECT_EQ(get_json(dev.port, "/v1/overlays/apps/hello")["files"].count("priv/note.txt"), 0u);
  EXPECT_EQ(call_hello(dev.port), new_greeting);

  // Back to the base build.
  install(tree.path(), base_module());
  r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(call_hello(dev.port), base_greeting);
  EXPECT_EQ(get_json(dev.port, "/v1/overlays")["apps"]["hello"], base_hash);

  // `myelin status` shows the app's hash.
  r = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(r.output.find(base_hash.substr(0, 12)), std::string::npos) << r.output;
}

// A version that segfaults on start is rolled back: the old version answers,
// and the push fails with the reason and the app's last output lines.
TEST(overlay_push, crash_on_start_rolls_back) {
  booted_device dev{hello_only()};
  ASSERT_TRUE(dev.apps_ready());
  ASSERT_EQ(wait_for_hello(dev.port), base_greeting);
  temp_dir tree;
  install(tree.path(), test_module("hello_crash"));
  auto r = push(dev, tree.path());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  // Under AddressSanitizer (the dev preset) the sanitizer catches the fault
  // and the app host exits with its report instead of dying by the signal.
  EXPECT_TRUE(r.output.find("SIGSEGV") != std::string::npos ||
              r.output.find("AddressSanitizer: SEGV") != std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("rolled back"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("about to write through a null pointer"), std::string::npos) << r.output;
  EXPECT_EQ(wait_for_hello(dev.port), base_greeting);
  auto overview = get_json(dev.port, "/v1/overlays");
  EXPECT_TRUE(overview["stack"].empty()) << overview.dump();
  EXPECT_EQ(overview["last_rollback"]["rolled_back"], true);
}

/// Crashes hello's running app host (SIGSEGV; found among myelin-boot's
/// children by its module).
void crash_hello(const booted_device& dev) {
  auto module = hello_row(dev.port)["module"].get<std::string>();
  auto pids = myelin::test::run("pgrep -P " + std::to_string(dev.proc->pid()) + " -f -- " +
                                myelin::test::shell_quote("--module " + module));
  ASSERT_FALSE(pids.output.empty()) << module;
  myelin::test::run("kill -SEGV " + pids.output.substr(0, pids.output.find('\n')));
}

/// crash_hello, then waits up to 20 s for the overlay service to report a
/// rollback.
void crash_hello_and_wait_for_rollback(const booted_device& dev) {
  ASSERT_NO_FATAL_FAILURE(crash_hello(dev));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline &&
         get_json(dev.port, "/v1/overlays")["last_rollback"].is_null()) {
    std::this_thread::sleep_for(20ms);
  }
}

// A version that crashes later, within the probation window, is rolled back too.
TEST(overlay_push, crash_on_probation_rolls_back) {
  booted_device dev{hello_only({"--set", "overlays.probation_s=30"})};
  ASSERT_TRUE(dev.apps_ready());
  temp_dir tree;
  install(tree.path(), test_module("hello_v2"));
  auto r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(call_hello(dev.port), new_greeting);
  // The new version crashes.
  ASSERT_NO_FATAL_FAILURE(crash_hello_and_wait_for_rollback(dev));
  auto overview = get_json(dev.port, "/v1/overlays");
  EXPECT_TRUE(overview["stack"].empty()) << overview.dump();
  EXPECT_EQ(wait_for_hello(dev.port), base_greeting);
}

// A stack still on probation when myelin-boot was killed goes through
// probation again after the restart, and a crash then rolls it back.
TEST(overlay_push, probation_resumes_after_restart) {
  temp_dir state;
  temp_dir tree;
  install(tree.path(), test_module("hello_v2"));
  {
    booted_device dev{hello_only({"--set", "overlays.probation_s=60"}), state.path().string()};
    ASSERT_TRUE(dev.apps_ready());
    ASSERT_EQ(push(dev, tree.path()).exit_code, 0);
    dev.proc->signal(SIGKILL);
    dev.proc->wait(10s);
  }
  booted_device dev{hello_only({"--set", "overlays.probation_s=60"}), state.path().string()};
  ASSERT_TRUE(dev.apps_ready());
  ASSERT_EQ(wait_for_hello(dev.port), new_greeting);
  ASSERT_NO_FATAL_FAILURE(crash_hello_and_wait_for_rollback(dev));
  EXPECT_TRUE(get_json(dev.port, "/v1/overlays")["stack"].empty());
  EXPECT_EQ(wait_for_hello(dev.port), base_greeting);
}

// Signatures: a device with trusted keys refuses unsigned overlays and ones
// signed by another key, and accepts its key's.
TEST(overlay_push, signatures_are_checked) {
  temp_dir keys;
  auto good = (keys / "dev").string();
  auto other = (keys / "other").string();
  ASSERT_EQ(run_myelin({"keys", "generate", good}).exit_code, 0);
  ASSERT_EQ(run_myelin({"keys", "generate", other}).exit_code, 0);
  auto pub = myelin::test::read_file(good + ".pub");
  pub.erase(pub.find_last_not_of("\n") + 1);
  booted_device dev{hello_only(
      {"--set", "overlays.allow_unsigned=false", "--set", "overlays.trusted_keys=" + pub})};
  ASSERT_TRUE(dev.apps_ready());
  temp_dir tree;
  install(tree.path(), test_module("hello_v2"));
  auto before = overlay_files(dev.state);
  auto r = push(dev, tree.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("not signed"), std::string::npos) << r.output;
  r = push(dev, tree.path(), {"--key", other + ".key"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not verify"), std::string::npos) << r.output;
  EXPECT_EQ(overlay_files(dev.state), before);
  EXPECT_EQ(call_hello(dev.port), base_greeting);
  r = push(dev, tree.path(), {"--key", good + ".key"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(call_hello(dev.port), new_greeting);
}

// Hostile pushes over HTTP get a clear error and change nothing.
TEST(overlay_push, bad_pushes_change_nothing) {
  // The device may hang up on a stream it refuses.
  std::signal(SIGPIPE, SIG_IGN);
  booted_device dev{hello_only({"--set", "overlays.max_bytes=65536"})};
  ASSERT_TRUE(dev.apps_ready());
  auto before = overlay_files(dev.state);
  httplib::Client cli("127.0.0.1", dev.port);
  auto post = [&](const std::string& body) {
    auto res = cli.Post("/v1/overlays", body, "application/octet-stream");
    return res ? std::make_pair(res->status, res->body) : std::make_pair(0, std::string{});
  };
  std::string manifest = "myelin-overlay-manifest 1\napp hello\nfile " + std::string(64, 'a') +
                         " 3 0644 hello/../../etc/x\n";
  for (const auto& [body, status] : std::vector<std::pair<std::string, int>>{
           {"garbage", 400},
           {"myelin-overlay 1\nmanifest 999\nshort", 400},
           {"myelin-overlay 1\nmanifest " + std::to_string(manifest.size()) + "\n" + manifest +
                "signature none\nabc",
            400},
           {std::string(70000, 'x'), 413},
       }) {
    auto [code, text] = post(body);
    EXPECT_EQ(code, status) << text;
    EXPECT_NE(json::parse(text, nullptr, false).value("error", ""), "") << text;
  }
  // A chunked stream past overlays.max_bytes is cut off with 413.
  auto chunked = cli.Post(
      "/v1/overlays",
      [sent = size_t{0}](size_t, httplib::DataSink& sink) mutable {
        if (sent >= 200000) {
          sink.done();
          return true;
        }
        std::string block(10000, 'z');
        sent += block.size();
        return sink.write(block.data(), block.size());
      },
      "application/octet-stream");
  ASSERT_TRUE(chunked);
  EXPECT_EQ(chunked->status, 413) << chunked->body;
  EXPECT_NE(chunked->body.find("overlays.max_bytes"), std::string::npos) << chunked->body;
  // Unknown app, and a push bigger than overlays.max_bytes, from the CLI.
  temp_dir tree;
  install(tree.path(), test_module("hello_v2"));
  auto r = run_myelin(
      {"push", "--device", dev.address(), "--build-dir", tree.path().string(), "nosuch"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no app 'nosuch'"), std::string::npos) << r.output;
  myelin::test::write_file(tree.path() / "apps/hello/big.bin", std::string(100000, 'b'));
  r = push(dev, tree.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("overlays.max_bytes"), std::string::npos) << r.output;
  // A path leading out through a symlink is refused on the host.
  fs::remove(tree.path() / "apps/hello/big.bin");
  fs::create_symlink("/etc/passwd", tree.path() / "apps/hello/escape");
  r = push(dev, tree.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("symlink leading out"), std::string::npos) << r.output;
  EXPECT_EQ(overlay_files(dev.state), before);
  EXPECT_EQ(call_hello(dev.port), base_greeting);
}

// A push onto a full state file system: 507 with the reason, nothing changed,
// the app keeps running. (A size-limited tmpfs as the state dir.)
TEST(overlay_push, disk_full_changes_nothing) {
  MYELIN_REQUIRE_ROOT();
  temp_dir mnt;
  if (::mount("tmpfs", mnt.path().c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
  }
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt.path()};
  booted_device dev{hello_only(), mnt.path().string()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  auto before = overlay_files(dev.state);
  temp_dir tree;
  install(tree.path(), test_module("hello_v2"));
  myelin::test::write_file(tree.path() / "apps/hello/data.bin", std::string(2 << 20, 'd'));
  auto r = push(dev, tree.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  EXPECT_EQ(overlay_files(dev.state), before);
  EXPECT_EQ(call_hello(dev.port), base_greeting);
}

// kill -9 of myelin-boot at every numbered point of apply (5 times each):
// after a restart the stack is the old or the new one and hello answers to match.
TEST(overlay_push, kill_at_each_apply_point) {
  temp_dir state;
  temp_dir v2;
  temp_dir base;
  install(v2.path(), test_module("hello_v2"));
  install(base.path(), base_module());
  int trials = 0;
  for (int round = 0; round < 5; ++round) {
    for (int point = 1; point <= 12; ++point) {
      std::string before_greeting;
      size_t before_depth = 0;
      {
        booted_device dev{hello_only({"--set", "overlays.max_depth=4", "--set",
                                      "testing.overlay_crash_at=" + std::to_string(point)}),
                          state.path().string()};
        ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
        before_greeting = *wait_for_hello(dev.port);
        before_depth = get_json(dev.port, "/v1/overlays")["stack"].size();
        auto tree = before_greeting == base_greeting ? v2.path() : base.path();
        push(dev, tree);
        auto status = dev.proc->wait(20s);
        ASSERT_TRUE(status && WIFSIGNALED(*status)) << "point " << point << " not reached";
      }
      booted_device dev{hello_only(), state.path().string()};
      ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
      auto now = wait_for_hello(dev.port);
      ASSERT_TRUE(now) << "point " << point << ": hello does not answer";
      auto depth = get_json(dev.port, "/v1/overlays")["stack"].size();
      if (*now == before_greeting) {
        EXPECT_EQ(depth, before_depth) << "point " << point;
      } else {
        // Compaction (max_depth 4) may merge the new stack; it is never deeper than +1.
        EXPECT_LE(depth, before_depth + 1) << "point " << point;
        EXPECT_GE(point, 10) << "the new stack before the stack file was replaced";
      }
      ++trials;
    }
  }
  EXPECT_EQ(trials, 60);
}

// kill -9 of myelin-boot at random times during pushes: after a restart the
// stack is the old or the new one and hello answers to match.
TEST(overlay_push, kill_at_random_times) {
  temp_dir state;
  temp_dir v2;
  temp_dir base;
  install(v2.path(), test_module("hello_v2"));
  install(base.path(), base_module());
  std::mt19937 rng{static_cast<unsigned>(::getpid())};
  int old_seen = 0;
  int new_seen = 0;
  for (int trial = 0; trial < 50; ++trial) {
    std::string before_greeting;
    {
      booted_device dev{hello_only(), state.path().string()};
      ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
      before_greeting = *wait_for_hello(dev.port);
      auto tree = before_greeting == base_greeting ? v2.path() : base.path();
      std::thread pusher{[&] { push(dev, tree); }};
      std::this_thread::sleep_for(std::chrono::microseconds{rng() % 40000});
      dev.proc->signal(SIGKILL);
      pusher.join();
      dev.proc->wait(10s);
    }
    booted_device dev{hello_only(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    auto now = wait_for_hello(dev.port);
    ASSERT_TRUE(now) << "trial " << trial << ": hello does not answer";
    EXPECT_TRUE(*now == base_greeting || *now == new_greeting) << *now;
    (*now == before_greeting ? old_seen : new_seen)++;
  }
  RecordProperty("old", old_seen);
  RecordProperty("new", new_seen);
}

// -- overlays across a firmware update (decision 0073) ----------------------

namespace {

/// A signed firmware for the device's platform, and the device options that
/// trust it (hello only, no probation: a crash restarts, never rolls back).
struct firmware_file {
  temp_dir dir;
  std::string pub;
  std::string file = (dir / "v2.fw").string();

  firmware_file() {
    auto keys = myelin::runtime::generate_key_pair();
    EXPECT_FALSE(myelin::runtime::write_key_pair(keys, (dir / "dev").string()));
    pub = myelin::runtime::format_public_key(keys.pub);
    std::string image(1 << 20, '\0');
    std::mt19937 gen{7};
    for (auto& c : image) {
      c = static_cast<char>(gen() & 0xff);
    }
    myelin::test::write_file(dir / "rootfs.img", image);
    auto r =
        run_myelin({"fw", "create", "--key", (dir / "dev.key").string(), "--product", "myelin-demo",
                    "--version", "2.0.0", "--platform", "testboard", "--architecture", "testarch",
                    "--rootfs", (dir / "rootfs.img").string(), "-o", file});
    EXPECT_EQ(r.exit_code, 0) << r.output;
  }

  std::vector<std::string> device_args() const {
    return hello_only({"--set", "firmware.trusted_keys=" + pub, "--set",
                       "firmware.platform=testboard", "--set", "firmware.architecture=testarch",
                       "--set", "overlays.probation_s=0"});
  }
};

/// Pushes hello_v2 the way a user does (an install tree, `myelin push`).
void push_v2(const booted_device& dev, const temp_dir& tree) {
  install(tree.path(), test_module("hello_v2"));
  auto r = push(dev, tree.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(call_hello(dev.port), new_greeting);
}

}  // namespace

// The bug two owners made: fw push without --reboot used to delete the
// overlay directories behind the live store, and the crashed app then failed
// with "libhello.so not found". The running firmware keeps its overlays.
TEST(overlay_push, fw_push_without_reboot_keeps_the_running_overlays) {
  firmware_file fw;
  booted_device dev{fw.device_args()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  temp_dir tree;
  ASSERT_NO_FATAL_FAILURE(push_v2(dev, tree));
  auto r = run_myelin({"fw", "push", "--device", dev.address(), fw.file});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(get_json(dev.port, "/v1/overlays")["aside_at_boot"].get<bool>());
  ASSERT_NO_FATAL_FAILURE(crash_hello(dev));
  EXPECT_EQ(wait_for_hello(dev.port), new_greeting) << dev.proc->output();
  auto overview = get_json(dev.port, "/v1/overlays");
  EXPECT_EQ(overview["stack"].size(), 1u) << overview.dump();
  EXPECT_EQ(dev.proc->output().find("not found"), std::string::npos) << dev.proc->output();
}

// Issue 19: with --reboot the next boot runs the new firmware without the
// old one's overlays — set aside, not deleted. The new firmware fails to be
// validated and reverts: the old one comes back with its overlays, and what
// was pushed on the new one is gone. Validated instead, the old overlays go.
TEST(overlay_push, overlays_follow_validation_across_reboots) {
  firmware_file fw;
  temp_dir state;
  temp_dir tree;
  auto reboot = [](booted_device& dev, const std::vector<std::string>& cmd) {
    auto r = run_myelin(cmd);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // Host mode: a reboot stops myelin-boot.
    ASSERT_TRUE(dev.proc->wait(20s).has_value()) << dev.proc->output();
  };
  {
    booted_device dev{fw.device_args(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    ASSERT_NO_FATAL_FAILURE(push_v2(dev, tree));
    reboot(dev, {"fw", "push", "--reboot", "--device", dev.address(), fw.file});
  }
  {
    booted_device dev{fw.device_args(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    EXPECT_NE(dev.proc->output().find("overlays: set aside"), std::string::npos)
        << dev.proc->output();
    auto overview = get_json(dev.port, "/v1/overlays");
    EXPECT_TRUE(overview["stack"].empty()) << overview.dump();
    EXPECT_FALSE(overview["aside_at_boot"].get<bool>());
    ASSERT_TRUE(overview["set_aside"].is_object()) << overview.dump();
    EXPECT_EQ(overview["set_aside"]["slot"], "a");
    EXPECT_EQ(wait_for_hello(dev.port), base_greeting);
    // The new firmware is not validated: it reverts (what U-Boot does on the
    // next boot; in host mode by hand).
    reboot(dev, {"fw", "revert", "--device", dev.address()});
  }
  {
    booted_device dev{fw.device_args(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    EXPECT_NE(dev.proc->output().find("its overlays are back"), std::string::npos)
        << dev.proc->output();
    auto overview = get_json(dev.port, "/v1/overlays");
    EXPECT_EQ(overview["stack"].size(), 1u) << overview.dump();
    EXPECT_TRUE(overview["set_aside"].is_null()) << overview.dump();
    EXPECT_EQ(wait_for_hello(dev.port), new_greeting);
    // Once more to the new firmware, validated this time.
    auto push =
        run_myelin({"fw", "push", "--force", "--reboot", "--device", dev.address(), fw.file});
    ASSERT_EQ(push.exit_code, 0) << push.output;
    ASSERT_TRUE(dev.proc->wait(20s).has_value()) << dev.proc->output();
  }
  booted_device dev{fw.device_args(), state.path().string()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  ASSERT_TRUE(get_json(dev.port, "/v1/overlays")["set_aside"].is_object());
  auto v = run_myelin({"fw", "validate", "--device", dev.address()});
  ASSERT_EQ(v.exit_code, 0) << v.output;
  // The firmware service told the overlays service before it answered.
  EXPECT_TRUE(get_json(dev.port, "/v1/overlays")["set_aside"].is_null())
      << get_json(dev.port, "/v1/overlays").dump();
  EXPECT_EQ(wait_for_hello(dev.port), base_greeting);
}

// A revert back to the slot the overlays were made for withdraws the clear:
// the next boot runs the same firmware, with its overlays.
TEST(overlay_push, revert_to_their_slot_keeps_them) {
  firmware_file fw;
  temp_dir state;
  temp_dir tree;
  {
    booted_device dev{fw.device_args(), state.path().string()};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    ASSERT_NO_FATAL_FAILURE(push_v2(dev, tree));
    ASSERT_EQ(run_myelin({"fw", "push", "--device", dev.address(), fw.file}).exit_code, 0);
    ASSERT_TRUE(get_json(dev.port, "/v1/overlays")["aside_at_boot"].get<bool>());
    auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", dev.address()});
    ASSERT_EQ(revert.exit_code, 0) << revert.output;
    EXPECT_FALSE(get_json(dev.port, "/v1/overlays")["aside_at_boot"].get<bool>());
    dev.proc->signal(SIGTERM);
    dev.proc->wait(20s);
  }
  booted_device dev{fw.device_args(), state.path().string()};
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  EXPECT_EQ(get_json(dev.port, "/v1/overlays")["stack"].size(), 1u);
  EXPECT_EQ(wait_for_hello(dev.port), new_greeting);
}

// Issue 18, anti-rollback: `myelin push --key` binds each overlay to the
// running firmware and a new sequence; an old signed overlay replayed, or one
// made for other firmware, is refused (409) and changes nothing.
TEST(overlay_push, replayed_and_foreign_overlays_refused) {
  temp_dir keys;
  auto good = (keys / "dev").string();
  ASSERT_EQ(run_myelin({"keys", "generate", good}).exit_code, 0);
  auto pub = myelin::test::read_file(good + ".pub");
  pub.erase(pub.find_last_not_of("\n") + 1);
  auto args = hello_only(
      {"--set", "overlays.allow_unsigned=false", "--set", "overlays.trusted_keys=" + pub});
  temp_dir state;
  {
    // The firmware's uuid, as an installed firmware has it; seen from the next boot.
    booted_device first{args, state.path().string()};
    ASSERT_GT(first.port, 0) << first.proc->output();
    auto put = run_myelin({"kv", "put", "--device", first.address(), "a.nerves_fw_uuid=fw-aaaa"});
    ASSERT_EQ(put.exit_code, 0) << put.output;
  }
  booted_device dev{args, state.path().string()};
  ASSERT_TRUE(dev.apps_ready());
  auto overview = get_json(dev.port, "/v1/overlays");
  EXPECT_EQ(overview.value("firmware_uuid", ""), "fw-aaaa") << overview.dump();
  EXPECT_TRUE(overview.value("bound", false));
  temp_dir tree;
  install(tree.path(), test_module("hello_v2"));
  auto r = push(dev, tree.path(), {"--key", good + ".key"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(call_hello(dev.port), new_greeting);
  auto sequence = get_json(dev.port, "/v1/overlays").value("sequence", uint64_t{0});
  EXPECT_GT(sequence, 1700000000000u) << "milliseconds since 1970";
  // Hand-made bundles, signed with the same key: an old sequence (a replay)
  // and another firmware's uuid.
  auto secret = myelin::runtime::read_secret_key_file(good + ".key");
  ASSERT_TRUE(secret);
  auto bundle_for = [&](const std::string& firmware, uint64_t seq) {
    myelin::runtime::overlay_manifest m;
    m.apps = {"hello"};
    m.firmware = firmware;
    m.sequence = seq;
    m.whiteouts = {"hello/libhello.so"};
    return myelin::runtime::make_bundle(m, {}, &secret->secret);
  };
  auto before = overlay_files(dev.state);
  httplib::Client cli("127.0.0.1", dev.port);
  for (const auto& [bundle, why] :
       {std::pair{bundle_for("fw-aaaa", 5), std::string{"a replay of an older overlay"}},
        std::pair{bundle_for("fw-bbbb", sequence + 1000),
                  std::string{"made for firmware fw-bbbb, this device runs fw-aaaa"}}}) {
    auto res = cli.Post("/v1/overlays", bundle, "application/octet-stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 409) << res->body;
    EXPECT_NE(res->body.find(why), std::string::npos) << res->body;
  }
  EXPECT_EQ(overlay_files(dev.state), before);
  EXPECT_EQ(call_hello(dev.port), new_greeting);
  // The next push from the laptop is newer again.
  install(tree.path(), base_module());
  r = push(dev, tree.path(), {"--key", good + ".key"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(call_hello(dev.port), base_greeting);
}
