// The time service with a real myelin-boot in host mode, where it never sets
// the laptop's clock (time.set_clock = auto): the floor's choice from the
// saved time and the firmware's build time, what it would do, and the saving.
// Setting the clock for real is tested in the device image (image.time).
// NTP runs against a real server: Debian's chronyd (serving its own clock,
// never adjusting this machine's: -x) in a network namespace.
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"

using namespace myelin::test;
using namespace std::chrono_literals;

namespace {

nlohmann::json time_of(const booted_device& dev) {
  auto r = run_myelin({"time", "--json", "--device", dev.address()});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_discarded() ? nlohmann::json{{"output", r.output}} : doc;
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

/// chronyd: installed, or extracted from Debian's package into the build
/// tree (apt-get download + dpkg-deb -x: nothing installed, no service
/// started). Empty, with `why`, when neither works.
std::string chronyd(std::string& why) {
  if (auto p = program_path("chronyd"); !p.empty()) {
    return p;
  }
  auto cache =
      std::filesystem::path{bin("myelin")}.parent_path().parent_path() / "test-cache" / "chrony";
  auto binary = cache / "x" / "usr" / "sbin" / "chronyd";
  if (!std::filesystem::exists(binary)) {
    std::filesystem::create_directories(cache);
    auto r = run("cd " + shell_quote(cache.string()) +
                 " && apt-get download -q chrony 2>&1 && dpkg-deb -x chrony_*.deb x 2>&1");
    if (r.exit_code != 0 || !std::filesystem::exists(binary)) {
      why = "cannot get chronyd from the package registry: " + r.output;
      return {};
    }
  }
  return binary.string();
}

/// A chronyd serving its own clock on 127.0.0.1:`port` inside `ns`.
struct ntp_server {
  temp_dir dir;
  std::unique_ptr<child_process> proc;

  ntp_server(const named_netns& ns, const std::string& binary, int port) {
    write_file(dir / "chrony.conf", "port " + std::to_string(port) +
                                        "\nbindaddress 127.0.0.1\nallow 127.0.0.1\n"
                                        "local stratum 8\ncmdport 0\npidfile " +
                                        (dir / "chronyd.pid").string() + "\n");
    proc = std::make_unique<child_process>(
        std::vector<std::string>{program_path("ip"), "netns", "exec", ns.name(), binary, "-f",
                                 (dir / "chrony.conf").string(), "-x", "-d", "-u", "root"});
    proc->wait_for_line("Disabled control of system clock", 10s);
  }
};

nlohmann::json time_in(const named_netns& ns, const netns_device& dev) {
  auto r = netns_cli(ns, {"time", "--json", "--device", dev.address()});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_discarded() ? nlohmann::json{{"output", r.output}} : doc;
}

}  // namespace

// A saved time newer than the clock is the floor; in host mode the service
// only says what it would do. At stop the time is saved again.
TEST(time, saved_time_is_the_floor_and_saved_again_at_stop) {
  temp_dir state;
  std::filesystem::create_directories(state / "time");
  auto ahead = now_s() + 86400;
  write_file(state / "time" / "saved", std::to_string(ahead) + "\n");
  {
    booted_device dev{{}, state.path().string()};
    ASSERT_GT(dev.port, 0);
    auto t = time_of(dev);
    EXPECT_EQ(t.value("floor_source", ""), "saved time") << t.dump();
    EXPECT_EQ(t.value("floor", int64_t{0}), ahead) << t.dump();
    EXPECT_FALSE(t.value("set_clock", true));
    EXPECT_NE(t.value("adjustment", "").find("would set the clock from "), std::string::npos)
        << t.dump();
    EXPECT_NE(t.value("adjustment", "").find("(time.set_clock is off here)"), std::string::npos);
    auto text = run_myelin({"time", "--device", dev.address()});
    EXPECT_NE(text.output.find("floor:        "), std::string::npos) << text.output;
    // The clock is before the floor: it is not saved over the floor.
    EXPECT_EQ(read_file(state / "time" / "saved"), std::to_string(ahead) + "\n");
  }
  // A clock in order is saved at start and at stop.
  write_file(state / "time" / "saved", "garbage\n");
  auto before = now_s();
  {
    booted_device dev{{}, state.path().string()};
    ASSERT_GT(dev.port, 0);
    auto t = time_of(dev);
    EXPECT_EQ(t.value("floor_source", ""), "build time") << t.dump();
    EXPECT_EQ(t.value("adjustment", "x"), "") << t.dump();
    EXPECT_GE(t.value("now", int64_t{0}), t.value("build_time", int64_t{0}));
  }
  auto saved = std::stoll(read_file(state / "time" / "saved"));
  EXPECT_GE(saved, before);
  EXPECT_LE(saved, now_s());
}

// The firmware's build time (time.build_time_file) counts when it is newer
// than myelin's own; `myelin status` shows the time line.
TEST(time, firmware_build_time_raises_the_floor) {
  temp_dir dir;
  auto file = dir / "build-time";
  auto later = now_s() + 3600;
  write_file(file, std::to_string(later) + "\n");
  booted_device dev{{"--set", "time.build_time_file=" + file.string()}};
  ASSERT_GT(dev.port, 0);
  auto t = time_of(dev);
  EXPECT_EQ(t.value("build_time", int64_t{0}), later) << t.dump();
  EXPECT_EQ(t.value("floor", int64_t{0}), later) << t.dump();
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("time:     "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("not synchronized"), std::string::npos) << status.output;
}

// NTP against a real server started after myelin: the first rounds fail
// (nothing answers), the retries find it, `synchronized` latches, and the
// offset is reported (host mode: the clock itself is left alone).
TEST(time, ntp_synchronizes_once_the_server_is_up) {
  MYELIN_REQUIRE_ROOT();
  named_netns ns{"mtime"};
  if (!ns.error().empty()) {
    GTEST_SKIP() << "needs network namespaces: " << ns.error();
  }
  std::string why;
  auto binary = chronyd(why);
  if (binary.empty()) {
    GTEST_SKIP() << why;
  }
  ns.ip("link set lo up");
  netns_device dev{ns, {"--set", "time.ntp_servers=127.0.0.1:11123"}};
  ASSERT_GT(dev.port, 0);
  ASSERT_TRUE(eventually([&] { return !time_in(ns, dev).value("ntp_error", "").empty(); }, 10s))
      << time_in(ns, dev).dump();
  auto before = time_in(ns, dev);
  EXPECT_FALSE(before.value("synchronized", true)) << before.dump();
  EXPECT_NE(before.value("ntp_error", "").find("127.0.0.1:11123"), std::string::npos)
      << before.dump();

  ntp_server server{ns, binary, 11123};
  ASSERT_TRUE(eventually([&] { return time_in(ns, dev).value("synchronized", false); }, 40s))
      << time_in(ns, dev).dump() << server.proc->output();
  auto t = time_in(ns, dev);
  EXPECT_EQ(t.value("ntp_server", ""), "127.0.0.1:11123") << t.dump();
  EXPECT_EQ(t.value("ntp_stratum", 0), 8) << t.dump();
  EXPECT_LT(std::abs(t.value("ntp_offset_us", int64_t{1} << 40)), 1000000) << t.dump();
  EXPECT_EQ(t.value("ntp_error", "x"), "") << t.dump();
  auto text = netns_cli(ns, {"time", "--device", dev.address()});
  EXPECT_NE(text.output.find("synchronized: yes (127.0.0.1:11123"), std::string::npos)
      << text.output;
  EXPECT_TRUE(dev.proc->wait_for_line("time: synchronized with 127.0.0.1:11123", 5s))
      << dev.proc->output();
}
