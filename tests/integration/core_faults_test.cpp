// Issue 19: an exception in any thread of a core service is a restart of that
// service — the core and the other services live on (decision 0075). The
// faults come from the [testing] hooks, which a device's PID 1 refuses.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::free_port;
using myelin::test::run_myelin;

namespace {

/// The restarts of core service `id` in GET /v1/status's tree.
int restarts_of(const nlohmann::json& status, const std::string& id) {
  if (!status.is_object() || !status.contains("tree")) {
    return -1;
  }
  for (const auto& sup : status["tree"]) {
    if (sup["id"] != "core") {
      continue;
    }
    for (const auto& c : sup["children"]) {
      if (c["id"] == id) {
        return c["restarts"].get<int>();
      }
    }
  }
  return -1;
}

nlohmann::json status_of(int port) {
  httplib::Client cli{"127.0.0.1", port};
  auto res = cli.Get("/v1/status");
  return res ? nlohmann::json::parse(res->body, nullptr, false) : nlohmann::json{};
}

}  // namespace

// Each thread of the core that a service owns: its failure restarts the
// service, the control channel keeps answering, myelin-boot keeps running.
TEST(core_faults, each_service_thread_failure_restarts_its_service) {
  for (auto [thread, service] :
       {std::pair{"log.syslog", "log"}, std::pair{"uevent.read", "uevent"},
        std::pair{"net.watch", "net"}, std::pair{"console.http", "console"},
        std::pair{"mdns.reader", "mdns"}}) {
    SCOPED_TRACE(thread);
    // A fixed port: the restarted console listens where the first one did.
    auto port = free_port();
    // mdns on, on loopback only (no announcement reaches this machine's LAN).
    booted_device dev{{"--set", "control.port=" + std::to_string(port), "--set",
                       std::string{"testing.faults="} + thread, "--set", "mdns.enabled=on", "--set",
                       "mdns.interfaces=lo"}};
    // (The ready line may name no channel: it can fall between two consoles.)
    nlohmann::json status;
    for (auto deadline = std::chrono::steady_clock::now() + 10s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
      status = status_of(port);
      if (status.is_object() && restarts_of(status, service) >= 1) {
        break;
      }
    }
    EXPECT_GE(restarts_of(status, service), 1) << status << dev.proc->output();
    // The console's fault stops its listener; the others throw.
    std::string why = std::string{service} == "console" ? "the control channel stopped listening"
                                                        : std::string{"test fault in "} + thread;
    EXPECT_NE(dev.proc->output().find(std::string{"thread "} + thread + " failed: " + why),
              std::string::npos)
        << dev.proc->output();
    EXPECT_FALSE(dev.proc->wait(10ms)) << "myelin-boot ended:\n" << dev.proc->output();
    auto health = run_myelin({"status", "--device", "127.0.0.1:" + std::to_string(port)});
    EXPECT_EQ(health.exit_code, 0) << health.output;
  }
}

// The firmware installer's thread failing is a failed upload with the reason,
// not std::terminate; the next upload works.
TEST(core_faults, installer_thread_failure_is_a_failed_upload) {
  booted_device dev{{"--set", "testing.faults=fw.install"}};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  myelin::test::temp_dir dir;
  auto fw = (dir / "x.fw").string();
  myelin::test::write_file(dir / "rootfs.img", std::string(4096, 'x'));
  auto push = run_myelin({"fw", "push", "--device", dev.address(), (dir / "rootfs.img").string()});
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_NE(push.output.find("the installer failed: test fault in fw.install"), std::string::npos)
      << push.output << dev.proc->output();
  EXPECT_FALSE(dev.proc->wait(10ms)) << dev.proc->output();
  // Disarmed: the next one reaches the archive reader (and is refused as no .fw).
  push = run_myelin({"fw", "push", "--device", dev.address(), (dir / "rootfs.img").string()});
  EXPECT_EQ(push.exit_code, 1);
  EXPECT_EQ(push.output.find("installer failed"), std::string::npos) << push.output;
}
