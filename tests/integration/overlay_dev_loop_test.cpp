// End to end: the developer loop exactly as README.md and docs/pushing.md tell
// a user to run it, with the real binaries and a real compiler, in a copy of
// the source tree: `make run` (myelin-boot --config config/host.toml from the
// tree's root) + `myelin watch`, edit and save, a compile error, the fix;
// `cmake --build build --target hello` + `myelin push hello`; `myelin new`
// with the commands it prints, a push that installs the new app, a hostile
// app.toml, `push --remove`; start_host on the host and start on a target.
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;
using myelin::test::bin;
using myelin::test::child_process;
using myelin::test::port_of;
using myelin::test::read_file;
using myelin::test::run;
using myelin::test::shell_quote;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

/// What `myelin call APP COMMAND` answers, or the error body.
std::string call(int port, const std::string& app, const std::string& command) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10s);
  auto res =
      cli.Post("/v1/apps/" + app + "/call", json{{"command", command}}.dump(), "application/json");
  if (!res) {
    return "<no answer>";
  }
  auto doc = json::parse(res->body, nullptr, false);
  if (res->status != 200) {
    return "<" + std::to_string(res->status) + "> " + res->body;
  }
  return doc.value("reply", "");
}

json get_json(int port, const std::string& path) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10s);
  auto res = cli.Get(path);
  return res ? json::parse(res->body, nullptr, false) : json{};
}

/// The app's row of /v1/status, or null.
json app_row(int port, const std::string& app) {
  auto status = get_json(port, "/v1/status");
  for (const auto& a : status.value("apps", json::array())) {
    if (a.value("name", "") == app) {
      return a;
    }
  }
  return nullptr;
}

/// Replaces `from` by `to` in `file` (an editor's save: write a new file, rename).
void edit(const fs::path& file, const std::string& from, const std::string& to) {
  auto text = read_file(file);
  auto at = text.find(from);
  ASSERT_NE(at, std::string::npos) << from << " not in " << file;
  text.replace(at, from.size(), to);
  auto tmp = file.string() + ".swp";
  write_file(tmp, text);
  fs::rename(tmp, file);
}

/// A copy of the source tree, as a user has it (no build directory, no .git),
/// configured as `make run` configures it.
struct tree_copy {
  temp_dir dir;
  fs::path root = dir / "myelin";

  tree_copy() {
    fs::create_directories(root);
    for (const auto& ent : fs::directory_iterator{myelin::test::source_dir()}) {
      auto name = ent.path().filename().string();
      if (name.rfind("build", 0) == 0 || name == ".git" || name == "docs") {
        continue;
      }
      fs::copy(ent.path(), root / name, fs::copy_options::recursive);
    }
  }

  /// Runs a shell command in the tree's root.
  myelin::test::command_result sh(const std::string& command) const {
    return run("cd " + shell_quote(root.string()) + " && " + command);
  }
};

/// `make run` in `root`: the real myelin-boot with config/host.toml from the
/// tree's root (apphost.base_dir = build/apps, relative to it), on a free port
/// with its state in `state`.
std::unique_ptr<child_process> make_run(const fs::path& root, const fs::path& state,
                                        const std::vector<std::string>& extra = {}) {
  std::string cmd =
      "cd " + shell_quote(root.string()) + " && exec " + shell_quote(bin("myelin-boot")) +
      " --foreground --config config/host.toml --set control.port=0 --set state.dir=" +
      shell_quote(state.string());
  for (const auto& e : extra) {
    cmd += " " + shell_quote(e);
  }
  return std::make_unique<child_process>(std::vector<std::string>{"/bin/sh", "-c", cmd});
}

/// `build/bin/myelin ARGS` run from `root` against the device on `port`.
myelin::test::command_result cli(const fs::path& root, int port, const std::string& args) {
  return run("cd " + shell_quote(root.string()) + " && MYELIN_DEVICE=127.0.0.1:" +
             std::to_string(port) + " " + shell_quote(bin("myelin")) + " " + args);
}

}  // namespace

// README's loop: `make run`, `myelin watch`, edit hello.cpp and save → the new
// greeting answers; a compile error is printed and the running code stays;
// the fix answers. A rebuild alone changes neither what runs nor what the
// device reports (its base apps are a snapshot); `cmake --build` + `myelin
// push hello` then runs the rebuilt code.
TEST(overlay_dev_loop, make_run_watch_edit_save_runs_the_new_code) {
  tree_copy tree;
  auto configured = tree.sh(
      "cmake --preset release >/dev/null && cmake --build build -j 2 "
      "--target hello ticker fault 2>&1");
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  temp_dir state;
  auto dev = make_run(tree.root, state.path());
  auto ready = dev->wait_for_line("ready in", 20s);
  ASSERT_TRUE(ready) << dev->output();
  int port = port_of(*ready);
  ASSERT_TRUE(dev->wait_for_line("apps ready in", 20s)) << dev->output();
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from myelin, world!");
  auto base_hash = app_row(port, "hello").value("hash", "");

  // The base apps run from a snapshot in the state directory.
  EXPECT_EQ(app_row(port, "hello").value("module", ""),
            (state / "base/hello/libhello.so").string());

  child_process watch{{"/bin/sh", "-c",
                       "cd " + shell_quote(tree.root.string()) + " && exec " +
                           shell_quote(bin("myelin")) +
                           " watch --device 127.0.0.1:" + std::to_string(port)}};
  ASSERT_TRUE(watch.wait_for_line("hello: up to date", 120s)) << watch.output();

  auto source = tree.root / "apps/hello/hello.cpp";
  edit(source, "\"Hello from myelin\"", "\"Hello from the edited myelin\"");
  ASSERT_TRUE(watch.wait_for_line("hello: 1 changed", 120s)) << watch.output();
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from the edited myelin, world!");
  EXPECT_NE(app_row(port, "hello").value("hash", ""), base_hash);

  edit(source, "constexpr const char* greeting", "constexpr const char* greeting = nope;\nint x");
  ASSERT_TRUE(watch.wait_for_line("hello: build failed", 120s)) << watch.output();
  EXPECT_NE(watch.output().find("error:"), std::string::npos) << watch.output();
  EXPECT_NE(watch.output().find("hello.cpp"), std::string::npos) << watch.output();
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from the edited myelin, world!");

  edit(source, "constexpr const char* greeting = nope;\nint x", "constexpr const char* greeting");
  edit(source, "\"Hello from the edited myelin\"", "\"Hello from the fixed myelin\"");
  ASSERT_TRUE(watch.wait_for_line("hello: 1 changed", 120s)) << watch.output();
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from the fixed myelin, world!");
  watch.signal(SIGINT);
  auto watch_status = watch.wait(20s);
  ASSERT_TRUE(watch_status) << watch.output();
  EXPECT_EQ(myelin::test::exit_code_of(*watch_status), 0) << watch.output();

  // docs/pushing.md: cmake --build build --target hello, then myelin push hello.
  edit(source, "\"Hello from the fixed myelin\"", "\"Hello from the pushed myelin\"");
  auto built = tree.sh("cmake --build build --target hello 2>&1");
  ASSERT_EQ(built.exit_code, 0) << built.output;
  // Rebuilt but not pushed: what runs, and what the device reports, stay.
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from the fixed myelin, world!");
  auto pushed = cli(tree.root, port, "push hello 2>&1");
  ASSERT_EQ(pushed.exit_code, 0) << pushed.output;
  EXPECT_NE(pushed.output.find("hello: 1 changed"), std::string::npos) << pushed.output;
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from the pushed myelin, world!");
  auto again = cli(tree.root, port, "push hello 2>&1");
  EXPECT_NE(again.output.find("hello: up to date"), std::string::npos) << again.output;

  // Restarting the device (Ctrl-C, make run again) snapshots the rebuilt base.
  dev->signal(SIGINT);
  ASSERT_TRUE(dev->wait(20s)) << dev->output();
}

// `myelin new blink`, then exactly the commands it prints: build, push (the
// device installs and starts the new app with its app.toml's settings, no
// config change), call. A hostile app.toml is refused naming the key and
// changes nothing; `push --remove` withdraws the app and status says so.
TEST(overlay_dev_loop, new_app_installs_by_push_and_is_removed) {
  tree_copy tree;
  auto configured =
      tree.sh("cmake --preset release >/dev/null && cmake --build build -j 2 --target hello 2>&1");
  ASSERT_EQ(configured.exit_code, 0) << configured.output;
  temp_dir state;
  auto dev = make_run(tree.root, state.path(),
                      {"--set", "apps.ticker.enabled=false", "--set", "apps.fault.enabled=false"});
  auto ready = dev->wait_for_line("ready in", 20s);
  ASSERT_TRUE(ready) << dev->output();
  int port = port_of(*ready);

  temp_dir work;
  auto made = run("cd " + shell_quote(work.path().string()) + " && " + shell_quote(bin("myelin")) +
                  " new blink --sdk " + shell_quote(tree.root.string()) + " 2>&1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  EXPECT_TRUE(fs::exists(work / "blink/app.toml"));
  // The commands it printed, run as printed.
  std::vector<std::string> commands;
  std::istringstream lines{made.output};
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("  ", 0) == 0) {
      commands.push_back(line.substr(2));
    }
  }
  ASSERT_EQ(commands.size(), 4u) << made.output;
  auto env = "MYELIN_DEVICE=127.0.0.1:" + std::to_string(port) + " ";
  auto build = run(commands[0] + " 2>&1");
  ASSERT_EQ(build.exit_code, 0) << commands[0] << "\n" << build.output;
  auto push = run(env + commands[1] + " 2>&1");
  ASSERT_EQ(push.exit_code, 0) << commands[1] << "\n" << push.output;
  EXPECT_NE(push.output.find("blink: new app"), std::string::npos) << push.output;
  auto greet = run(env + commands[2] + " 2>&1");
  EXPECT_EQ(greet.exit_code, 0) << greet.output;
  EXPECT_EQ(greet.output, "Hello from blink, world!\n");

  auto row = app_row(port, "blink");
  ASSERT_TRUE(row.is_object());
  EXPECT_EQ(row.value("origin", ""), "pushed");
  EXPECT_NE(row.value("settings", "").find("app.toml: "), std::string::npos) << row.dump();
  EXPECT_NE(row.value("memory_limit", "").find("256 MiB"), std::string::npos) << row.dump();
  auto status = cli(tree.root, port, "status 2>&1");
  EXPECT_NE(status.output.find("from:     pushed"), std::string::npos) << status.output;

  // The printed watch command: a saved source file, then a saved data file,
  // each answers at once.
  child_process watch{{"/bin/sh", "-c", env + "exec " + commands[3]}};
  ASSERT_TRUE(watch.wait_for_line("blink: up to date", 120s)) << watch.output();
  edit(work / "blink/blink.cpp", "greeting + \", \" + name", "greeting + \", dear \" + name");
  ASSERT_TRUE(watch.wait_for_line("blink: 1 changed", 120s)) << watch.output();
  EXPECT_EQ(call(port, "blink", "greet"), "Hello from blink, dear world!");
  write_file(work / "blink/priv/greeting.txt", "Howdy\n");
  ASSERT_TRUE(watch.wait_for_line("blink: 1 changed", 120s)) << watch.output();
  EXPECT_EQ(call(port, "blink", "greet"), "Howdy, dear world!");
  watch.signal(SIGINT);
  ASSERT_TRUE(watch.wait(20s)) << watch.output();

  // Hostile app.toml files: refused naming the key, nothing changes.
  auto app_toml = work / "blink/build/apps/blink/app.toml";
  auto good_toml = read_file(app_toml);
  auto stack_before = get_json(port, "/v1/overlays").value("stack", json::array());
  struct bad_case {
    std::string text;
    std::string says;
  };
  std::vector<bad_case> cases{
      {"colour = \"red\"\n", "unknown key 'colour'"},
      {"restart = \"sometimes\"\n", "must be one of permanent, transient, temporary"},
      {"memory_limit_mb = \"lots\"\n", "must be an integer"},
      {"module = \"/bin/sh\"\n", "unknown key 'module'"},
      {"# " + std::string(1 << 20, 'x') + "\n", "at most 65536"},
  };
  for (const auto& c : cases) {
    write_file(app_toml, c.text);
    auto r =
        cli(tree.root, port,
            "push --build-dir " + shell_quote((work / "blink/build").string()) + " blink 2>&1");
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(c.says), std::string::npos) << r.output;
    EXPECT_EQ(get_json(port, "/v1/overlays").value("stack", json::array()), stack_before);
    EXPECT_EQ(call(port, "blink", "greet"), "Howdy, dear world!");
  }
  write_file(app_toml, good_toml);
  // An app name that is no app name: refused before anything is written.
  for (const std::string name : {"../etc", "a/b", "..", "bad-name"}) {
    myelin::runtime::overlay_manifest m;
    m.apps = {name};
    m.files = {{name + "/lib.so", myelin::runtime::sha256_hex("x"), 1, 0644}};
    auto bundle = myelin::runtime::make_bundle(m, {"x"}, nullptr);
    httplib::Client c("127.0.0.1", port);
    auto res = c.Post("/v1/overlays", bundle, "application/octet-stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << name << ": " << res->body;
    EXPECT_EQ(get_json(port, "/v1/overlays").value("stack", json::array()), stack_before);
  }

  // push --remove: gone, and status says so; a firmware app cannot be removed.
  auto removed = cli(tree.root, port, "push --remove blink 2>&1");
  ASSERT_EQ(removed.exit_code, 0) << removed.output;
  EXPECT_NE(removed.output.find("blink: removed"), std::string::npos) << removed.output;
  EXPECT_TRUE(app_row(port, "blink").is_null());
  EXPECT_NE(call(port, "blink", "greet").find("no app 'blink'"), std::string::npos);
  status = cli(tree.root, port, "status 2>&1");
  EXPECT_EQ(status.output.find("blink"), std::string::npos) << status.output;
  auto refused = cli(tree.root, port, "push --remove hello 2>&1");
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.output.find("part of the device's firmware"), std::string::npos)
      << refused.output;
  EXPECT_EQ(call(port, "hello", "hello"), "Hello from myelin, world!");
}

// A device whose config forbids new apps refuses them with the reason.
TEST(overlay_dev_loop, new_apps_refused_when_not_allowed) {
  myelin::test::booted_device dev{{"--set", "apps.fault.enabled=false", "--set",
                                   "apps.ticker.enabled=false", "--set",
                                   "overlays.allow_new_apps=false"}};
  ASSERT_TRUE(dev.apps_ready());
  temp_dir build;
  fs::create_directories(build / "apps/blink");
  fs::copy_file(myelin::test::bin_dir().parent_path() / "apps/hello/libhello.so",
                build / "apps/blink/libblink.so");
  auto r = myelin::test::run_myelin(
      {"push", "--device", dev.address(), "--build-dir", build.path().string(), "blink"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("overlays.allow_new_apps = false"), std::string::npos) << r.output;
}

// One source, two start paths: on the host the ticker's sensor is simulated
// (start_host); with device.target set to a target it reads the real thermal
// zone (start), and status shows which ran.
TEST(overlay_dev_loop, start_host_on_the_host_start_on_a_target) {
  for (const std::string target : {"host", "qemu_x86_64"}) {
    myelin::test::booted_device dev{{"--set", "apps.fault.enabled=false", "--set",
                                     "apps.hello.enabled=false", "--set",
                                     "device.target=" + target}};
    ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
    EXPECT_EQ(get_json(dev.port, "/v1/status").value("target", ""), target);
    auto row = app_row(dev.port, "ticker");
    auto temp = call(dev.port, "ticker", "temp");
    if (target == "host") {
      EXPECT_EQ(row.value("start", ""), "start_host") << row.dump();
      EXPECT_NE(temp.find("(simulated)"), std::string::npos) << temp;
    } else {
      EXPECT_EQ(row.value("start", ""), "start") << row.dump();
      EXPECT_NE(temp.find("thermal_zone0"), std::string::npos) << temp;
      // On a target the base apps are not snapshot: they are the firmware's.
      EXPECT_EQ(row.value("module", ""),
                (myelin::test::bin_dir().parent_path() / "apps/ticker/libticker.so").string());
    }
  }
}

// A new app that crashes on start is rolled back like any push: the push
// fails with the reason and the app is gone again.
TEST(overlay_dev_loop, new_app_that_crashes_is_rolled_back_and_removed) {
  myelin::test::booted_device dev{
      {"--set", "apps.fault.enabled=false", "--set", "apps.ticker.enabled=false"}};
  ASSERT_TRUE(dev.apps_ready());
  temp_dir build;
  fs::create_directories(build / "apps/crashy");
  fs::copy_file(fs::path{MYELIN_TEST_APPS_DIR} / "hello_crash/libhello_crash.so",
                build / "apps/crashy/libcrashy.so");
  auto r = myelin::test::run_myelin(
      {"push", "--device", dev.address(), "--build-dir", build.path().string(), "crashy"});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("app crashy did not start"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("rolled back"), std::string::npos) << r.output;
  EXPECT_TRUE(app_row(dev.port, "crashy").is_null());
  EXPECT_EQ(get_json(dev.port, "/v1/overlays").value("apps", json::object()).count("crashy"), 0u);
  EXPECT_EQ(call(dev.port, "hello", "hello"), "Hello from myelin, world!");
}

// A new app pushed with --persist comes back after a reboot of myelin-boot,
// started after the configured apps with its app.toml's settings.
TEST(overlay_dev_loop, persistent_new_app_survives_a_restart) {
  temp_dir state;
  temp_dir build;
  fs::create_directories(build / "apps/blink");
  fs::copy_file(myelin::test::bin_dir().parent_path() / "apps/hello/libhello.so",
                build / "apps/blink/libblink.so");
  write_file(build / "apps/blink/app.toml", "memory_limit_mb = 200\n");
  std::vector<std::string> args{"--set", "apps.fault.enabled=false", "--set",
                                "apps.ticker.enabled=false"};
  {
    myelin::test::booted_device dev{args, state.path().string()};
    ASSERT_TRUE(dev.apps_ready());
    auto r = myelin::test::run_myelin({"push", "--device", dev.address(), "--build-dir",
                                       build.path().string(), "--persist", "blink"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    dev.proc->signal(SIGTERM);
    ASSERT_TRUE(dev.proc->wait(20s)) << dev.proc->output();
  }
  myelin::test::booted_device dev{args, state.path().string()};
  ASSERT_TRUE(dev.apps_ready());
  EXPECT_NE(dev.ready_line.find("apps [fault, hello, ticker, blink]"), std::string::npos)
      << dev.ready_line;
  EXPECT_EQ(call(dev.port, "blink", "hello"), "Hello from myelin, world!");
  auto row = app_row(dev.port, "blink");
  EXPECT_EQ(row.value("origin", ""), "pushed") << row.dump();
  EXPECT_NE(row.value("memory_limit", "").find("200 MiB"), std::string::npos) << row.dump();
  EXPECT_EQ(row.value("settings", ""), "app.toml: memory_limit_mb") << row.dump();
}
