// Issue 19: no configuration error stops the core (decision 0074). Each
// broken section runs on the last good configuration's values, else the
// defaults, and status names it; a file that is not TOML boots on the last
// good configuration, so the device stays reachable where it was.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <set>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::bin;
using myelin::test::child_process;
using myelin::test::free_port;
using myelin::test::read_file;
using myelin::test::run_myelin;
using myelin::test::temp_dir;
using myelin::test::write_file;
namespace fs = std::filesystem;

namespace {

/// Keeps the device off what belongs to the machine running the test (the
/// defaults point at /dev/log, the kernel log, /etc/fw_env.config).
std::vector<std::string> host_safe(const std::string& state) {
  return {"--set", "state.dir=" + state,         "--set", "log.kmsg=false",
          "--set", "log.syslog_socket=log.sock", "--set", "kv.backend=file",
          "--set", "net.internet_hosts="};
}

struct running {
  std::unique_ptr<child_process> proc;
  int port = 0;
  nlohmann::json status;

  running(const std::string& config, std::vector<std::string> extra) {
    std::vector<std::string> argv{bin("myelin-boot"), "--config", config};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<child_process>(argv);
    // Not "ready in": an issue's "already in use" holds it too.
    auto ready = proc->wait_for_line(" ms: core [", 20s);
    if (!ready) {
      return;
    }
    port = myelin::test::port_of(*ready);
    httplib::Client cli("127.0.0.1", port);
    if (auto res = cli.Get("/v1/status")) {
      status = nlohmann::json::parse(res->body, nullptr, false);
    }
  }

  std::set<std::string> issue_sections() const {
    std::set<std::string> out;
    for (const auto& i : status["config"]["issues"]) {
      out.insert(i["section"].get<std::string>());
    }
    return out;
  }

  ~running() {
    proc->signal(SIGTERM);
    proc->wait(20s);
  }
};

}  // namespace

// The reproduction of issue 19: one typo in overlays.trusted_keys stopped the
// boot ("boot failed", exit 1: a reboot loop as PID 1). Now the core boots,
// status names [overlays], and pushes are refused for want of a trusted key.
TEST(config_fallback, a_bad_overlay_key_boots_and_refuses_pushes) {
  temp_dir state;
  auto args = host_safe(state.path().string());
  args.insert(args.end(),
              {"--set", "control.port=0", "--set", "overlays.trusted_keys=ed25519:typo"});
  running dev{myelin::test::host_config(), args};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  EXPECT_EQ(dev.issue_sections(), std::set<std::string>{"overlays"}) << dev.status;
  EXPECT_NE(dev.proc->output().find("ed25519:typo"), std::string::npos) << dev.proc->output();
  EXPECT_NE(dev.proc->output().find("[overlays] on the defaults"), std::string::npos)
      << dev.proc->output();
  // --check-config finds what the boot would fall back from, in every
  // trusted_keys list, and exits 2.
  auto check = myelin::test::run(bin("myelin-boot") + " --config " + myelin::test::host_config() +
                                 " --set overlays.trusted_keys=ed25519:typo" +
                                 " --set firmware.trusted_keys=ed25519:typo2 --check-config");
  EXPECT_EQ(check.exit_code, 2) << check.output;
  EXPECT_NE(check.output.find("[overlays] overlays.trusted_keys: 'ed25519:typo'"),
            std::string::npos)
      << check.output;
  EXPECT_NE(check.output.find("[firmware] firmware.trusted_keys: 'ed25519:typo2'"),
            std::string::npos)
      << check.output;
}

// A bad value in each of several sections: each is named, each runs on the
// defaults, and what the rest of the file says still counts.
TEST(config_fallback, each_bad_section_is_named_and_the_rest_boots) {
  temp_dir dir;
  temp_dir state;
  auto file = (dir / "device.toml").string();
  write_file(file,
             "[device]\nname = \"sections-test\"\ntarget = \"host\"\n"
             "[log]\nlevel = \"loud\"\n"
             "[control]\nport = 0\n"
             "[kv]\ninitial = [\"novalue\"]\n"
             "[overlays]\ntrusted_keys = [\"ed25519:typo\"]\n"
             "[apps.hello]\nrestart = \"sometimes\"\n"
             "[nosuchsection]\nx = 1\n");
  running dev{file, host_safe(state.path().string())};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  EXPECT_EQ(dev.status["device"], "sections-test") << dev.status;
  EXPECT_EQ(dev.issue_sections(),
            (std::set<std::string>{"log", "kv", "overlays", "apps.hello", "nosuchsection"}))
      << dev.status;
  EXPECT_EQ(dev.status["config"]["fallback"], "defaults") << dev.status;
  // The CLI shows them too.
  auto status = run_myelin({"status", "--device", "127.0.0.1:" + std::to_string(dev.port)});
  EXPECT_NE(status.output.find("config:   [apps.hello]"), std::string::npos) << status.output;
  // A boot with issues is not a good configuration to fall back on.
  EXPECT_FALSE(fs::exists(state.path() / "config" / "last-good.toml"));
  // --check-config names every schema error and exits 2.
  auto check = myelin::test::run(bin("myelin-boot") + " --config " + file + " --check-config");
  EXPECT_EQ(check.exit_code, 2);
  for (const char* s : {"[log]", "[apps.hello]", "[nosuchsection]"}) {
    EXPECT_NE(check.output.find(s), std::string::npos) << s << " in\n" << check.output;
  }
}

// A good boot saves the file as the last good configuration; a later file
// that is not TOML boots on it (the control channel where it was, the device's
// name), and a file whose [control] is broken takes only that section from it.
TEST(config_fallback, a_broken_file_keeps_the_last_good_control_address) {
  temp_dir dir;
  temp_dir state;
  auto file = (dir / "device.toml").string();
  auto port = free_port();
  write_file(file, "[device]\nname = \"lg-test\"\ntarget = \"host\"\n[control]\nport = " +
                       std::to_string(port) + "\n");
  auto args = host_safe(state.path().string());
  {
    running dev{file, args};
    ASSERT_EQ(dev.port, port) << dev.proc->output();
    EXPECT_TRUE(dev.issue_sections().empty()) << dev.status;
  }
  auto saved = state.path() / "config" / "last-good.toml";
  ASSERT_TRUE(fs::exists(saved));
  EXPECT_EQ(read_file(saved), read_file(file));

  write_file(file, "[control\nport = \"\n");  // not TOML
  {
    running dev{file, args};
    ASSERT_EQ(dev.port, port) << dev.proc->output();
    EXPECT_EQ(dev.status["device"], "lg-test") << dev.status;
    EXPECT_EQ(dev.issue_sections(), std::set<std::string>{"*"}) << dev.status;
    EXPECT_EQ(dev.status["config"]["fallback"], "last good " + saved.string()) << dev.status;
  }
  write_file(file, "[device]\nname = \"renamed\"\ntarget = \"host\"\n[control]\nport = \"x\"\n");
  {
    running dev{file, args};
    ASSERT_EQ(dev.port, port) << dev.proc->output();
    EXPECT_EQ(dev.status["device"], "renamed") << dev.status;
    EXPECT_EQ(dev.issue_sections(), std::set<std::string>{"control"}) << dev.status;
  }
  // The last good file is still the good one.
  EXPECT_NE(read_file(saved).find("lg-test"), std::string::npos);
}

// Control settings that cannot listen (TLS without its certificate) do not
// stop the core: it listens on loopback and says why.
TEST(config_fallback, control_that_cannot_listen_falls_back_to_loopback) {
  temp_dir state;
  auto args = host_safe(state.path().string());
  args.insert(args.end(), {"--set", "control.tls=true", "--set", "control.cert=/nonexistent.pem"});
  running dev{myelin::test::host_config(), args};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  EXPECT_EQ(dev.issue_sections(), std::set<std::string>{"control"}) << dev.status;
  EXPECT_NE(dev.status.dump().find("control.cert = /nonexistent.pem: No such file or directory"),
            std::string::npos)
      << dev.status;
}
