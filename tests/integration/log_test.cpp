// End to end: the log service of a real myelin-boot (config/host.toml). Lines
// written to the real /dev/kmsg arrive in the ring with their level; syslog
// datagrams sent to the socket arrive with theirs, malformed ones are counted;
// `myelin logs --app hello` shows the hello app's lines (logged in its own app
// host); -f follows; the log file is written; bad queries are refused.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::child_process;
using myelin::test::run_myelin;
using json = nlohmann::json;

namespace {

/// GET `path`; the JSON body, or null on failure.
json get_json(int port, const std::string& path, int* status = nullptr) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(35s);
  auto res = cli.Get(path);
  if (status != nullptr) {
    *status = res ? res->status : 0;
  }
  if (!res) {
    return {};
  }
  return json::parse(res->body, nullptr, false);
}

/// Polls GET `path` until a record's message contains `needle`; that record.
json find_record(int port, const std::string& path, const std::string& needle) {
  auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    auto page = get_json(port, path);
    if (page.is_object() && page["records"].is_array()) {
      for (const auto& r : page["records"]) {
        if (r["message"].get<std::string>().find(needle) != std::string::npos) {
          return r;
        }
      }
    }
    std::this_thread::sleep_for(20ms);
  }
  return {};
}

bool send_datagram(const std::string& path, const std::string& data) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  auto n =
      ::sendto(fd, data.data(), data.size(), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::close(fd);
  return n == static_cast<ssize_t>(data.size());
}

std::vector<std::string> no_apps() {
  return {"--set", "apps.fault.enabled=false", "--set", "apps.hello.enabled=false",
          "--set", "apps.ticker.enabled=false"};
}

std::string unique(const std::string& what) {
  return "myelin-itest-" + what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

// Lines written to the real /dev/kmsg are read by the tailer into the ring,
// as source "kernel" with the level of their priority.
TEST(log, kmsg_lines_reach_the_ring) {
  MYELIN_REQUIRE_ROOT();
  if (::access("/dev/kmsg", R_OK | W_OK) != 0) {
    GTEST_SKIP() << "/dev/kmsg is not readable and writable here";
  }
  auto extra = no_apps();
  extra.insert(extra.end(), {"--set", "log.kmsg=true", "--set", "log.kmsg_replay=false"});
  booted_device dev{extra};
  ASSERT_NE(dev.port, 0);
  auto err_marker = unique("kmsg-err");
  auto warn_marker = unique("kmsg-warn");
  int fd = ::open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  for (const auto& line : {"<3>" + err_marker + "\n", "<4>" + warn_marker + "\n"}) {
    ASSERT_EQ(::write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  }
  ::close(fd);
  auto err = find_record(dev.port, "/v1/logs?source=kernel&limit=1000", err_marker);
  ASSERT_TRUE(err.is_object()) << "kernel line not in the ring";
  EXPECT_EQ(err["level"], "error");
  EXPECT_EQ(err["origin"], "kernel");
  auto warn = find_record(dev.port, "/v1/logs?source=kernel&limit=1000", warn_marker);
  ASSERT_TRUE(warn.is_object());
  EXPECT_EQ(warn["level"], "warning");
  auto stats = get_json(dev.port, "/v1/logs/stats");
  EXPECT_GE(stats["kmsg_records"].get<uint64_t>(), 2u);
}

// Syslog datagrams on the socket arrive with their level and ident;
// malformed ones are counted and kept as raw text.
TEST(log, syslog_datagrams_reach_the_ring) {
  booted_device dev{no_apps()};
  ASSERT_NE(dev.port, 0);
  auto sock = dev.state + "/log.sock";
  auto marker = unique("syslog");
  ASSERT_TRUE(send_datagram(sock, "<11>Nov 22 05:40:01 itest[7]: " + marker + " err"));
  ASSERT_TRUE(send_datagram(sock, "<12>itest: " + marker + " warn"));
  ASSERT_TRUE(send_datagram(sock, "<14>itest: " + marker + " info"));
  ASSERT_TRUE(send_datagram(sock, "no pri " + marker + " raw"));
  auto err = find_record(dev.port, "/v1/logs?source=syslog:itest", marker + " err");
  ASSERT_TRUE(err.is_object());
  EXPECT_EQ(err["level"], "error");
  EXPECT_EQ(err["message"], marker + " err");
  EXPECT_EQ(find_record(dev.port, "/v1/logs?source=syslog:itest", marker + " warn")["level"],
            "warning");
  EXPECT_EQ(find_record(dev.port, "/v1/logs?source=syslog:itest", marker + " info")["level"],
            "info");
  auto raw = find_record(dev.port, "/v1/logs?source=syslog", marker + " raw");
  ASSERT_TRUE(raw.is_object()) << "malformed datagram not kept";
  EXPECT_NE(raw["message"].get<std::string>().find("malformed"), std::string::npos);
  auto stats = get_json(dev.port, "/v1/logs/stats");
  EXPECT_EQ(stats["syslog_malformed"], 1);
  // --level filters: only the error of the three.
  auto page = get_json(dev.port, "/v1/logs?source=syslog:itest&level=error");
  ASSERT_EQ(page["records"].size(), 1u);
}

// The hello app logs with spdlog in its own app host; `myelin logs --app
// hello` shows those lines, and -f follows new ones.
TEST(log, myelin_logs_shows_app_lines) {
  booted_device dev;
  ASSERT_NE(dev.port, 0);
  ASSERT_TRUE(dev.apps_ready());
  auto who = unique("Ada");
  auto call = run_myelin({"call", "--device", dev.address(), "hello", "hello", who});
  ASSERT_EQ(call.exit_code, 0) << call.output;
  ASSERT_TRUE(find_record(dev.port, "/v1/logs?app=hello", "greeting " + who).is_object());
  auto out = run_myelin({"logs", "--device", dev.address(), "--app", "hello"});
  ASSERT_EQ(out.exit_code, 0) << out.output;
  EXPECT_NE(out.output.find("[hello] starting the greeter"), std::string::npos) << out.output;
  EXPECT_NE(out.output.find("[hello] greeting " + who), std::string::npos) << out.output;
  EXPECT_EQ(out.output.find("[kv]"), std::string::npos) << "only the app's lines: " << out.output;

  auto js = run_myelin({"logs", "--device", dev.address(), "--app", "hello", "--json", "-n", "1"});
  ASSERT_EQ(js.exit_code, 0) << js.output;
  auto line = json::parse(js.output, nullptr, false);
  ASSERT_TRUE(line.is_object()) << js.output;
  EXPECT_EQ(line["origin"], "app");
  EXPECT_EQ(line["source"], "hello");
  EXPECT_EQ(line["message"], "greeting " + who);

  child_process follow({myelin::test::bin("myelin"), "logs", "-f", "-n", "0", "--device",
                        dev.address(), "--app", "hello"});
  // The follower is waiting once its first (empty) page is printed; calls
  // until a greeting shows up cover the start-up race.
  auto later = unique("Bob");
  std::optional<std::string> seen;
  for (int i = 0; i < 40 && !seen; ++i) {
    run_myelin({"call", "--device", dev.address(), "hello", "hello", later});
    seen = follow.wait_for_line("greeting " + later, 500ms);
  }
  EXPECT_TRUE(seen) << follow.output();
}

// `myelin logs -f` keeps following through a restart of myelin-boot: it
// retries while the device is down and starts over on the new boot.
TEST(log, follow_survives_restart) {
  myelin::test::temp_dir state;
  auto first = std::make_unique<booted_device>(std::vector<std::string>{}, state.path().string());
  ASSERT_NE(first->port, 0);
  ASSERT_TRUE(first->apps_ready());
  auto port = first->port;
  child_process follow({myelin::test::bin("myelin"), "logs", "-f", "-n", "0", "--device",
                        first->address(), "--app", "hello"});
  auto before = unique("before");
  std::optional<std::string> seen;
  for (int i = 0; i < 40 && !seen; ++i) {
    run_myelin({"call", "--device", first->address(), "hello", "hello", before});
    seen = follow.wait_for_line("greeting " + before, 500ms);
  }
  ASSERT_TRUE(seen) << follow.output();
  // A waiting long-poll does not hold up the stop (it would overrun
  // runtime.shutdown_timeout_ms and exit 1).
  first->proc->signal(SIGTERM);
  auto status = first->proc->wait(30s);
  ASSERT_TRUE(status);
  EXPECT_EQ(myelin::test::exit_code_of(*status), 0) << first->proc->output();
  first.reset();
  booted_device second({"--set", "control.port=" + std::to_string(port)}, state.path().string());
  ASSERT_EQ(second.port, port) << second.ready_line;
  auto after = unique("after");
  seen.reset();
  for (int i = 0; i < 60 && !seen; ++i) {
    run_myelin({"call", "--device", second.address(), "hello", "hello", after});
    seen = follow.wait_for_line("greeting " + after, 500ms);
  }
  EXPECT_TRUE(seen) << follow.output();
  EXPECT_NE(follow.output().find("-- the device restarted --"), std::string::npos)
      << follow.output();
}

// With log.file the records are also written to a rotating file.
TEST(log, file_written) {
  booted_device dev{[] {
    auto v = no_apps();
    v.insert(v.end(), {"--set", "log.file=logs/myelin.log"});
    return v;
  }()};
  ASSERT_NE(dev.port, 0);
  auto marker = unique("file");
  ASSERT_TRUE(send_datagram(dev.state + "/log.sock", "<12>itest: " + marker));
  auto deadline = std::chrono::steady_clock::now() + 20s;
  std::string text;
  while (std::chrono::steady_clock::now() < deadline && text.find(marker) == std::string::npos) {
    std::this_thread::sleep_for(20ms);
    text = myelin::test::read_file(dev.state + "/logs/myelin.log");
  }
  EXPECT_NE(text.find("warning [syslog:itest] " + marker), std::string::npos) << text;
  EXPECT_NE(text.find("[boot] ready in"), std::string::npos) << text;
}

// Bad queries get 400 with a reason; nothing else changes.
TEST(log, bad_queries_refused) {
  booted_device dev{no_apps()};
  ASSERT_NE(dev.port, 0);
  for (const char* bad : {"/v1/logs?since=abc", "/v1/logs?since=-1", "/v1/logs?limit=10001",
                          "/v1/logs?level=loud", "/v1/logs?wait_ms=999999", "/v1/logs?app=",
                          "/v1/logs?app=a&source=b", "/v1/logs?since=99999999999999999999999"}) {
    int status = 0;
    auto body = get_json(dev.port, bad, &status);
    EXPECT_EQ(status, 400) << bad;
    EXPECT_TRUE(body.is_object() && body.contains("error")) << bad;
  }
  // The tool refuses bad options and reports an unreachable device.
  EXPECT_NE(run_myelin({"logs", "--device", dev.address(), "--level", "loud"}).exit_code, 0);
  auto down = run_myelin({"logs", "--device", "127.0.0.1:1"});
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_NE(down.output.find("cannot reach"), std::string::npos) << down.output;
  // A long-poll with nothing new returns at its deadline with an empty page.
  auto last = get_json(dev.port, "/v1/logs?limit=0")["last"].get<uint64_t>();
  auto page =
      get_json(dev.port, "/v1/logs?source=nobody&since=" + std::to_string(last) + "&wait_ms=300");
  ASSERT_TRUE(page.is_object());
  EXPECT_TRUE(page["records"].empty());
  EXPECT_GE(page["next"].get<uint64_t>(), last);
}

}  // namespace
