// End to end: the kv and firmware services of a real myelin-boot, through the
// myelin tool (device and --fw-env-config modes) and raw HTTP, including
// hostile input and kill -9 during writes.
#include <csignal>
#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::exit_code_of;
using myelin::test::run;
using myelin::test::run_myelin;
using myelin::test::shell_quote;

namespace {

std::string printenv(const std::string& config) {
  return run("fw_printenv -c " + shell_quote(config)).output;
}

bool has_uboot_tools() {
  return run("command -v mkenvimage && command -v fw_printenv").exit_code == 0;
}

}  // namespace

// kv put / get / list through the device, visible to fw_printenv as well.
TEST(kv_cli, device_put_get_list) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  auto put = run_myelin({"kv", "put", "--device", dev.address(), "color=blue", "note=two words"});
  ASSERT_EQ(put.exit_code, 0) << put.output;
  auto get = run_myelin({"kv", "get", "--device", dev.address(), "note"});
  EXPECT_EQ(get.exit_code, 0);
  EXPECT_EQ(get.output, "two words\n");
  auto list = run_myelin({"kv", "list", "--device", dev.address()});
  EXPECT_EQ(list.exit_code, 0);
  EXPECT_NE(list.output.find("a.nerves_fw_version=0.1.0\ncolor=blue\n"), std::string::npos)
      << list.output;
  auto active = run_myelin({"kv", "list", "--active", "--device", dev.address()});
  EXPECT_NE(active.output.find("nerves_fw_version=0.1.0\n"), std::string::npos) << active.output;
  EXPECT_EQ(active.output.find("a.nerves"), std::string::npos) << active.output;
  if (has_uboot_tools()) {
    auto env = printenv(dev.fw_env_config());
    EXPECT_NE(env.find("color=blue\n"), std::string::npos) << env;
    EXPECT_NE(env.find("note=two words\n"), std::string::npos) << env;
  }
  auto json = run_myelin({"kv", "get", "--json", "--device", dev.address(), "color"});
  EXPECT_EQ(nlohmann::json::parse(json.output)["value"], "blue");
}

// A missing key: message on stderr, exit 1; a malformed assignment: exit 2.
TEST(kv_cli, missing_key_and_bad_assignment) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  auto get = run_myelin({"kv", "get", "--device", dev.address(), "no.such.key"});
  EXPECT_EQ(get.exit_code, 1);
  EXPECT_EQ(get.output, "myelin: no key 'no.such.key'\n");
  auto put = run_myelin({"kv", "put", "--device", dev.address(), "novalue"});
  EXPECT_EQ(put.exit_code, 2);
  EXPECT_NE(put.output.find("is not KEY=VALUE"), std::string::npos);
}

// fw status / validate / revert --no-reboot through the device, and serial.
TEST(fw_cli, device_status_validate_revert) {
  booted_device dev({"--set", "kv.initial=nerves_fw_active=a,a.nerves_fw_validated=0"});
  ASSERT_GT(dev.port, 0);
  // Unvalidated, but slot b holds no firmware: the next boot stays on a.
  auto status = run_myelin({"fw", "status", "--device", dev.address()});
  EXPECT_EQ(status.output, "active: a\nnext: a\nvalidation: unvalidated\n");
  ASSERT_EQ(run_myelin({"fw", "validate", "--device", dev.address()}).exit_code, 0);
  status = run_myelin({"fw", "status", "--device", dev.address()});
  EXPECT_EQ(status.output, "active: a\nnext: a\nvalidation: validated\n");
  // No firmware in b yet: revert is refused with the reason.
  auto refused = run_myelin({"fw", "revert", "--no-reboot", "--device", dev.address()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_EQ(refused.output, "myelin: slot b holds no firmware to revert to\n");
  ASSERT_EQ(run_myelin({"kv", "put", "--device", dev.address(), "b.nerves_fw_platform=host",
                        "b.nerves_fw_architecture=x86_64"})
                .exit_code,
            0);
  auto revert = run_myelin({"fw", "revert", "--no-reboot", "--device", dev.address()});
  EXPECT_EQ(revert.exit_code, 0) << revert.output;
  auto json = run_myelin({"fw", "status", "--json", "--device", dev.address()});
  auto doc = nlohmann::json::parse(json.output);
  EXPECT_EQ(doc["active"], "b");
  EXPECT_EQ(doc["validation"], "validated");
  auto serial = run_myelin({"serial", "--device", dev.address()});
  EXPECT_EQ(serial.output, "00000000\n");  // this initial env has no serial key
}

// fw revert with reboot: the device stops apps, then the core, and exits 0
// (host mode has no reboot command).
TEST(fw_cli, revert_reboots_device) {
  booted_device dev({"--set",
                     "kv.initial=nerves_fw_active=a,b.nerves_fw_platform=host,"
                     "b.nerves_fw_architecture=x86_64"});
  ASSERT_GT(dev.port, 0);
  auto revert = run_myelin({"fw", "revert", "--device", dev.address()});
  EXPECT_EQ(revert.exit_code, 0) << revert.output;
  auto status = dev.proc->wait(20s);
  ASSERT_TRUE(status) << dev.proc->output();
  EXPECT_EQ(exit_code_of(*status), 0) << dev.proc->output();
  const auto& out = dev.proc->output();
  auto apps = out.find("power: stop apps");
  auto core = out.find("power: stop core");
  auto sync = out.find("power: sync");
  ASSERT_NE(apps, std::string::npos) << out;
  EXPECT_LT(apps, core);
  EXPECT_LT(core, sync);
  if (has_uboot_tools()) {
    EXPECT_NE(printenv(dev.fw_env_config()).find("nerves_fw_active=b\n"), std::string::npos);
  }
}

// Working directly on an environment (as fw_printenv/fw_setenv do).
TEST(kv_cli, local_fw_env_config) {
  if (!has_uboot_tools()) {
    GTEST_SKIP() << "needs mkenvimage and fw_printenv";
  }
  myelin::test::temp_dir dir;
  myelin::test::write_file(dir / "env.txt",
                           "nerves_fw_active=a\nupgrade_available=1\nbootcount=1\n"
                           "b.nerves_fw_platform=rpi4\nb.nerves_fw_architecture=arm\n"
                           "nerves_serial_number=SN123\n");
  auto img = (dir / "env.img").string();
  ASSERT_EQ(run("mkenvimage -s 0x4000 -o " + shell_quote(img) + " " +
                shell_quote((dir / "env.txt").string()))
                .exit_code,
            0);
  auto config = (dir / "fw_env.config").string();
  myelin::test::write_file(config, img + " 0x0 0x4000\n");
  auto status = run_myelin({"fw", "status", "--fw-env-config", config});
  EXPECT_EQ(status.output, "active: a\nnext: b\nvalidation: unvalidated\n");
  ASSERT_EQ(run_myelin({"fw", "validate", "--fw-env-config", config}).exit_code, 0);
  auto env = printenv(config);
  EXPECT_NE(env.find("upgrade_available=0\n"), std::string::npos) << env;
  EXPECT_NE(env.find("bootcount=0\n"), std::string::npos) << env;
  ASSERT_EQ(run_myelin({"kv", "put", "--fw-env-config", config, "x=1"}).exit_code, 0);
  EXPECT_EQ(run_myelin({"kv", "get", "--fw-env-config", config, "x"}).output, "1\n");
  EXPECT_EQ(run_myelin({"serial", "--fw-env-config", config}).output, "SN123\n");
  auto missing = run_myelin({"kv", "list", "--fw-env-config", "/nonexistent/fw_env.config"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/fw_env.config"), std::string::npos);
}

// Hostile HTTP input gets a clear 4xx and changes nothing.
TEST(kv_http, hostile_input_rejected) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  httplib::Client cli("127.0.0.1", dev.port);
  auto before = cli.Get("/v1/kv")->body;
  struct bad_request {
    std::string body;
    int status;
    std::string needle;
  };
  for (const auto& b : std::vector<bad_request>{
           {"{not json", 400, "JSON object"},
           {"[1,2]", 400, "JSON object"},
           {R"({"k": 1})", 400, "must be a string"},
           {R"({"k": null})", 400, "must be a string"},
           {R"({"a=b": "1"})", 400, "contains '='"},
           {R"({"a\u0000b": "1"})", 400, "NUL"},
           {R"({"": "1"})", 400, "empty key"},
           {R"({"ok": "x\u0000y"})", 400, "NUL"},
           {std::string(2 << 20, ' '), 413, ""},
       }) {
    auto res = cli.Put("/v1/kv", b.body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, b.status) << b.body.substr(0, 40);
    EXPECT_NE(res->body.find(b.needle), std::string::npos) << res->body;
  }
  EXPECT_EQ(cli.Get("/v1/kv")->body, before);
  EXPECT_EQ(cli.Post("/v1/power/explode", "", "application/json")->status, 404);
  EXPECT_EQ(cli.Post("/v1/fw/revert", R"({"reboot": "yes"})", "application/json")->status, 400);
  EXPECT_EQ(cli.Post("/v1/fw/revert", "{}", "application/json")->status, 409);
  EXPECT_EQ(cli.Get("/v1/kv/no-such-key")->status, 404);
  // Garbage on the raw socket does not take the service down.
  for (int i = 0; i < 20; ++i) {
    run("printf 'GARBAGE\\r\\n\\r\\n\\x00\\xff' | timeout 2 bash -c 'cat > /dev/tcp/127.0.0.1/" +
        std::to_string(dev.port) + "' 2>/dev/null");
  }
  EXPECT_EQ(cli.Get("/v1/health")->status, 200);
}

// An environment too small for a put: 507 with the reason, contents kept.
TEST(kv_http, too_small_environment) {
  booted_device dev({"--set", "kv.file_size=4096"});
  ASSERT_GT(dev.port, 0);
  httplib::Client cli("127.0.0.1", dev.port);
  auto before = cli.Get("/v1/kv")->body;
  nlohmann::json body{{"big", std::string(5000, 'x')}};
  auto res = cli.Put("/v1/kv", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 507);
  EXPECT_NE(res->body.find("too small"), std::string::npos) << res->body;
  EXPECT_EQ(cli.Get("/v1/kv")->body, before);
}

// An environment that cannot be read: the device boots anyway, reports it,
// and a write creates a valid environment.
TEST(kv_http, unreadable_environment_boots) {
  if (!has_uboot_tools()) {
    GTEST_SKIP() << "needs fw_printenv";
  }
  myelin::test::temp_dir dir;
  auto img = (dir / "env.img").string();
  auto config = (dir / "fw_env.config").string();
  myelin::test::write_file(img, std::string(2 * 0x2000, '\x42'));
  myelin::test::write_file(config, img + " 0x0 0x2000\n" + img + " 0x2000 0x2000\n");
  // Issue 19: the rebuild starts from U-Boot's default environment, never
  // from the new keys alone (which would leave U-Boot without bootcmd).
  auto defaults = (dir / "u-boot-initial-env").string();
  myelin::test::write_file(defaults, "# U-Boot's defaults\nbootcmd=run distro_bootcmd\n");
  {
    // Without any defaults the write is refused and nothing is written.
    booted_device bare({"--set", "kv.backend=uboot", "--set", "kv.fw_env_config=" + config, "--set",
                        "kv.initial=", "--set", "kv.defaults_file="});
    ASSERT_GT(bare.port, 0);
    auto put = run_myelin({"kv", "put", "--device", bare.address(), "fresh=1"});
    EXPECT_EQ(put.exit_code, 1);
    EXPECT_NE(put.output.find("no default environment is configured"), std::string::npos)
        << put.output;
    EXPECT_EQ(myelin::test::read_file(img), std::string(2 * 0x2000, '\x42'));
  }
  booted_device dev({"--set", "kv.backend=uboot", "--set", "kv.fw_env_config=" + config, "--set",
                     "kv.initial=", "--set", "kv.defaults_file=" + defaults});
  ASSERT_GT(dev.port, 0);
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("no copy has a valid CRC"), std::string::npos) << status.output;
  ASSERT_EQ(run_myelin({"kv", "put", "--device", dev.address(), "fresh=1"}).exit_code, 0);
  EXPECT_EQ(printenv(config), "bootcmd=run distro_bootcmd\nfresh=1\n");
  status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("was rebuilt from 1 default variable(s)"), std::string::npos)
      << status.output;
  // The same on the laptop, straight on the file.
  myelin::test::write_file(img, std::string(2 * 0x2000, '\x42'));
  auto local =
      run_myelin({"kv", "put", "--fw-env-config", config, "--defaults", defaults, "again=1"});
  EXPECT_EQ(local.exit_code, 0) << local.output;
  EXPECT_NE(local.output.find("myelin: the environment was rebuilt"), std::string::npos)
      << local.output;
  EXPECT_EQ(printenv(config), "again=1\nbootcmd=run distro_bootcmd\n");
}

// kill -9 of myelin-boot while it writes the environment, many times: the
// environment always reads back, holding a complete old or new state.
TEST(kv_http, kill9_during_writes_never_corrupts) {
  if (!has_uboot_tools()) {
    GTEST_SKIP() << "needs fw_printenv";
  }
  myelin::test::temp_dir state;
  std::mt19937 rng(7);
  int last_acked = -1;
  for (int trial = 0; trial < 25; ++trial) {
    booted_device dev({}, state.path().string());
    ASSERT_GT(dev.port, 0) << "trial " << trial;
    std::atomic<int> acked{-1};
    std::thread writer([&] {
      httplib::Client cli("127.0.0.1", dev.port);
      cli.set_connection_timeout(1s);
      for (int i = 0; i < 1000; ++i) {
        // Both keys change in one write; they must always agree.
        nlohmann::json body{{"gen", std::to_string(trial * 1000 + i)},
                            {"gen_copy", std::to_string(trial * 1000 + i)},
                            {"pad", std::string(512 + (i % 7) * 100, 'p')}};
        auto res = cli.Put("/v1/kv", body.dump(), "application/json");
        if (!res || res->status != 200) {
          return;
        }
        acked = trial * 1000 + i;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(5 + rng() % 60));
    dev.proc->signal(SIGKILL);
    writer.join();
    dev.proc->wait(10s);
    auto env = printenv(dev.fw_env_config());
    auto value_of = [&](const std::string& key) {
      auto pos = env.find("\n" + key + "=");
      if (pos == std::string::npos) {
        return std::string{};
      }
      pos += key.size() + 2;
      return env.substr(pos, env.find('\n', pos) - pos);
    };
    ASSERT_NE(env.find("nerves_fw_active=a"), std::string::npos)
        << "trial " << trial << ": environment unreadable:\n"
        << env;
    auto gen = value_of("gen");
    EXPECT_EQ(gen, value_of("gen_copy")) << "trial " << trial;
    if (!gen.empty()) {
      // Every acknowledged write survived (fw writes are synchronous).
      EXPECT_GE(std::stoi(gen), std::max(acked.load(), last_acked)) << "trial " << trial;
      last_acked = std::stoi(gen);
    }
  }
}

// factory_reset erases the application data and reboots at once (host mode:
// stops without the graceful sequence).
TEST(fw_http, factory_reset_erases_and_reboots_immediately) {
  myelin::test::temp_dir data;
  myelin::test::write_file(data / "settings.json", "{}");
  booted_device dev({"--set", "firmware.app_data=" + data.path().string()});
  ASSERT_GT(dev.port, 0);
  httplib::Client cli("127.0.0.1", dev.port);
  auto res = cli.Post("/v1/fw/factory-reset", "{}", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(std::filesystem::is_empty(data.path()));
  auto status = dev.proc->wait(20s);
  ASSERT_TRUE(status) << dev.proc->output();
  EXPECT_EQ(exit_code_of(*status), 0);
  EXPECT_NE(dev.proc->output().find("reboot (immediate): no graceful stop"), std::string::npos)
      << dev.proc->output();
  EXPECT_EQ(dev.proc->output().find("power: stop apps"), std::string::npos);
}
