// The watchdog service with a real myelin-boot: petting while the core is
// healthy, stopping when a core service is wedged (its storage frozen with
// fsfreeze on a loop device), stopping on request, closing armed.
//
// The device is a test double — a regular file whose growth is the pets —
// because no watchdog driver may be loaded on the machine that runs the
// tests (its reset would reset that machine). The real driver (softdog) is
// exercised in the device image: tests/image/image_test.py watchdog.
#include <sys/mount.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"

using namespace myelin::test;
using namespace std::chrono_literals;

namespace {

uintmax_t pets_of(const std::filesystem::path& dev) {
  std::error_code ec;
  auto n = std::filesystem::file_size(dev, ec);
  return ec ? 0 : n;
}

nlohmann::json watchdog_of(const booted_device& dev) {
  auto r = run_myelin({"watchdog", "--json", "--device", dev.address()});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_discarded() ? nlohmann::json{{"state", "?"}, {"output", r.output}} : doc;
}

std::vector<std::string> fast_watchdog(const std::filesystem::path& dev) {
  return {"--set", "watchdog.device=" + dev.string(), "--set", "watchdog.timeout_s=4",
          "--set", "watchdog.pet_interval_ms=300",    "--set", "watchdog.probe_timeout_ms=300"};
}

}  // namespace

// Off unless configured: host mode has no watchdog, and says so.
TEST(watchdog, off_by_default_in_host_mode) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  auto r = run_myelin({"watchdog", "--device", dev.address()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("state:      off"), std::string::npos) << r.output;
  auto stop = run_myelin({"watchdog", "stop-petting", "--device", dev.address()});
  EXPECT_NE(stop.exit_code, 0) << stop.output;
  EXPECT_NE(stop.output.find("no watchdog is configured"), std::string::npos) << stop.output;
}

// A healthy core is petted every interval; `myelin watchdog stop-petting`
// stops it for good; the stop closes the device armed (no magic 'V').
TEST(watchdog, petting_while_healthy_until_stopped) {
  temp_dir tmp;
  auto wd = tmp / "watchdog";
  write_file(wd, "");
  std::optional<booted_device> dev{std::in_place, fast_watchdog(wd)};
  ASSERT_GT(dev->port, 0);
  EXPECT_TRUE(eventually([&] { return pets_of(wd) >= 5; }, 10s)) << pets_of(wd);
  auto doc = watchdog_of(*dev);
  EXPECT_EQ(doc.value("state", ""), "petting") << doc.dump();
  EXPECT_EQ(doc.value("identity", ""), "test double") << doc.dump();
  EXPECT_EQ(doc.value("failed_rounds", -1), 0) << doc.dump();
  auto status = run_myelin({"status", "--device", dev->address()});
  EXPECT_NE(status.output.find("watchdog: petting " + wd.string()), std::string::npos)
      << status.output;

  auto stop = run_myelin({"watchdog", "stop-petting", "--device", dev->address()});
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_NE(stop.output.find("petting stopped: the device resets within 4 s"), std::string::npos)
      << stop.output;
  auto after = pets_of(wd);
  std::this_thread::sleep_for(1500ms);  // five intervals
  EXPECT_EQ(pets_of(wd), after);
  EXPECT_EQ(watchdog_of(*dev).value("state", ""), "stopped petting");

  dev->proc->signal(SIGTERM);
  ASSERT_TRUE(dev->proc->wait(20s));
  auto bytes = read_file(wd);
  ASSERT_FALSE(bytes.empty());
  EXPECT_NE(bytes.back(), 'V') << "closed disarmed";
  EXPECT_TRUE(dev->proc->wait_for_line("closed, still armed", 5s) ||
              dev->proc->output().find("closed, still armed") != std::string::npos)
      << dev->proc->output();
}

// A core service that stops serving its mailbox — kv blocked in a write to
// a frozen file system — stops the petting within a round; once it serves
// again, petting resumes (a real board would have been reset by then).
TEST(watchdog, wedged_core_service_stops_petting) {
  MYELIN_REQUIRE_ROOT();
  temp_dir tmp;
  auto image = tmp / "kv.img";
  ASSERT_EQ(run("truncate -s 16M " + shell_quote(image.string())).exit_code, 0);
  ASSERT_EQ(run("mkfs.ext4 -q -F " + shell_quote(image.string())).exit_code, 0);
  loop_device loop{image};
  if (loop.path().empty()) {
    GTEST_SKIP() << loop.why_not();
  }
  temp_dir state;
  auto kv_dir = state / "kv";
  std::filesystem::create_directories(kv_dir);
  ASSERT_EQ(::mount(loop.path().c_str(), kv_dir.c_str(), "ext4", 0, nullptr), 0)
      << std::strerror(errno);
  struct unmount_at_end {
    std::string dir;
    bool frozen = false;
    ~unmount_at_end() {
      if (frozen) {
        run("fsfreeze -u " + shell_quote(dir));
      }
      ::umount2(dir.c_str(), MNT_DETACH);
    }
  } cleanup{kv_dir.string()};
  auto wd = tmp / "watchdog";
  write_file(wd, "");
  {
    booted_device dev{fast_watchdog(wd), state.path().string()};
    ASSERT_GT(dev.port, 0);
    ASSERT_TRUE(eventually([&] { return pets_of(wd) >= 3; }, 10s)) << pets_of(wd);

    ASSERT_EQ(run("fsfreeze -f " + shell_quote(kv_dir.string())).exit_code, 0);
    cleanup.frozen = true;
    // The write blocks inside the kv service; the tool gives up on its own.
    std::thread writer{[&] { run_myelin({"kv", "put", "wedge=1", "--device", dev.address()}); }};
    auto wedged =
        eventually([&] { return watchdog_of(dev).value("state", "") == "not petting"; }, 10s);
    auto doc = watchdog_of(dev);
    EXPECT_TRUE(wedged) << doc.dump();
    EXPECT_NE(doc.value("problem", "").find("kv"), std::string::npos) << doc.dump();
    auto stalled = pets_of(wd);
    std::this_thread::sleep_for(1500ms);
    EXPECT_EQ(pets_of(wd), stalled) << "petted while kv was wedged";
    EXPECT_TRUE(dev.proc->wait_for_line("watchdog: not petting", 5s)) << dev.proc->output();

    ASSERT_EQ(run("fsfreeze -u " + shell_quote(kv_dir.string())).exit_code, 0);
    cleanup.frozen = false;
    writer.join();
    EXPECT_TRUE(eventually([&] { return pets_of(wd) > stalled + 2; }, 10s));
    EXPECT_EQ(watchdog_of(dev).value("state", ""), "petting");
  }
}

// A pet interval that could not keep up with the timeout is refused; the
// section falls back (to the defaults here: no watchdog) and says why.
TEST(watchdog, interval_too_slow_for_timeout_refused) {
  temp_dir tmp;
  auto wd = tmp / "watchdog";
  write_file(wd, "");
  booted_device dev{{"--set", "watchdog.device=" + wd.string(), "--set", "watchdog.timeout_s=10",
                     "--set", "watchdog.pet_interval_ms=5000"}};
  ASSERT_GT(dev.port, 0);
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("[watchdog] watchdog.pet_interval_ms (5000) + 3 x "
                               "watchdog.probe_timeout_ms (2000) must be at most half of "
                               "watchdog.timeout_s (10 s)"),
            std::string::npos)
      << status.output;
  EXPECT_EQ(watchdog_of(dev).value("state", ""), "off");
}
