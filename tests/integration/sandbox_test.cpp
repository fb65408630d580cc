// Issue 18, decision 0079: app hosts are confined. The prober app tries,
// from inside its real app host, what no app may do — ptrace a sibling app
// host, signal PID 1 or myelin-boot, raise its rlimit, mount, make a user
// namespace, reboot, write another app's data, call the control channel —
// and each is refused, while its own data directory works. The control
// channel refuses what a web page can send (CSRF, DNS rebinding).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::call_app;
using myelin::test::children_of;
using myelin::test::run_myelin;

namespace {

std::map<std::string, std::string> lines_of(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) {
      out[line.substr(0, eq)] = line.substr(eq + 1);
    }
  }
  return out;
}

/// The app host of `app` among myelin-boot's children.
pid_t app_host_pid(pid_t boot, const std::string& app) {
  for (auto pid : children_of(boot)) {
    std::ifstream in{"/proc/" + std::to_string(pid) + "/cmdline"};
    std::string cmdline{std::istreambuf_iterator<char>{in}, {}};
    if (cmdline.find(std::string{"--app"} + '\0' + app + '\0') != std::string::npos) {
      return pid;
    }
  }
  return -1;
}

nlohmann::json app_row(int port, const std::string& app) {
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Get("/v1/apps");
  if (res && res->status == 200) {
    for (const auto& row : nlohmann::json::parse(res->body)) {
      if (row["name"] == app) {
        return row;
      }
    }
  }
  return {};
}

uid_t owner_of(const std::filesystem::path& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}

}  // namespace

TEST(sandbox, an_app_host_cannot_reach_beyond_its_own) {
  booted_device dev{{"--set", std::string{"apps.prober.module="} + MYELIN_TEST_APPS_DIR +
                                  "/prober/libprober.so"}};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  auto sibling = app_host_pid(dev.proc->pid(), "hello");
  ASSERT_GT(sibling, 0) << "no app host of hello";
  auto hello_data = std::filesystem::path{dev.state} / "app-data/hello";
  auto prober_data = std::filesystem::path{dev.state} / "app-data/prober";
  auto reply = call_app(dev.port, "prober", "probe",
                        {std::to_string(sibling), hello_data.string(), std::to_string(dev.port)});
  ASSERT_TRUE(reply) << dev.proc->output();
  auto r = lines_of(*reply);
  SCOPED_TRACE(*reply);
  // Everywhere: no_new_privs and the filter.
  EXPECT_EQ(r["no_new_privs"], "1");
  EXPECT_EQ(r["seccomp"], "2");
  for (const char* refused : {"ptrace_sibling", "kill_pid1", "kill_core", "kill_all", "mount",
                              "unshare_user", "reboot_syscall"}) {
    EXPECT_EQ(r[refused].rfind("refused:", 0), 0u) << refused << "=" << r[refused];
  }
  EXPECT_EQ(r["own_data"], "allowed");
  EXPECT_EQ(r["cwd"], prober_data.string());
  EXPECT_TRUE(std::filesystem::exists(prober_data / "mine"));
  EXPECT_FALSE(std::filesystem::exists(hello_data / "stolen"));
  auto row = app_row(dev.port, "prober");
  auto sandbox = row.value("sandbox", "");
  EXPECT_NE(sandbox.find("no_new_privs, seccomp"), std::string::npos) << row.dump();
  if (::geteuid() != 0) {
    GTEST_SKIP() << "not root: app hosts keep this user (checked: no_new_privs and seccomp); "
                    "the user switch, capabilities and data isolation need root";
  }
  // As root: a user of its own, nothing to regain.
  auto uid = static_cast<uid_t>(std::stoul(r["uid"]));
  EXPECT_GE(uid, 70000u);
  EXPECT_LT(uid, 71000u);
  EXPECT_EQ(r["cap_eff"], "0000000000000000");
  EXPECT_EQ(r["cap_bnd"], "0000000000000000");
  EXPECT_EQ(r["raise_rlimit"].rfind("refused:", 0), 0u) << r["raise_rlimit"];
  EXPECT_EQ(r["other_data"], "refused:Permission denied");
  EXPECT_EQ(r["home"], prober_data.string());
  EXPECT_EQ(r["control"], "HTTP/1.1 403 Forbidden");
  EXPECT_NE(sandbox.find("uid " + std::to_string(uid)), std::string::npos) << sandbox;
  EXPECT_EQ(owner_of(prober_data), uid);
  auto hello_uid = owner_of(hello_data);
  EXPECT_NE(hello_uid, uid) << "two apps share a user";
  EXPECT_GE(hello_uid, 70000u);
  // The user stays the app's across restarts (its data directory names it).
  auto restarted = run_myelin({"app", "restart", "--device", dev.address(), "prober"});
  ASSERT_EQ(restarted.exit_code, 0) << restarted.output;
  auto again = call_app(dev.port, "prober", "probe",
                        {std::to_string(sibling), hello_data.string(), std::to_string(dev.port)});
  ASSERT_TRUE(again);
  EXPECT_EQ(lines_of(*again)["uid"], std::to_string(uid));
  // What `myelin status` shows of it.
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("sandbox:  uid " + std::to_string(uid)), std::string::npos)
      << status.output;
  // The core's own clients still get through.
  httplib::Client cli("127.0.0.1", dev.port);
  auto health = cli.Get("/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(sandbox, switched_off_the_app_host_keeps_the_core_user) {
  booted_device dev{
      {"--set", std::string{"apps.prober.module="} + MYELIN_TEST_APPS_DIR + "/prober/libprober.so",
       "--set", "apphost.sandbox=false"}};
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  ASSERT_TRUE(dev.apps_ready()) << dev.proc->output();
  auto reply =
      call_app(dev.port, "prober", "probe", {"1", "/nonexistent", std::to_string(dev.port)});
  ASSERT_TRUE(reply) << dev.proc->output();
  auto r = lines_of(*reply);
  EXPECT_EQ(r["uid"], std::to_string(::geteuid()));
  EXPECT_EQ(r["seccomp"], "0");
  EXPECT_EQ(app_row(dev.port, "prober").value("sandbox", ""), "off (apphost.sandbox = false)");
  EXPECT_EQ(r["own_data"], "allowed") << "the data directory exists without the sandbox too";
}

TEST(control, a_web_page_cannot_drive_the_device) {
  booted_device dev;
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  httplib::Client cli("127.0.0.1", dev.port);
  cli.set_read_timeout(5s);
  // CSRF: a page on another site posts to the laptop's device.
  auto csrf = cli.Post(
      "/v1/power/reboot",
      httplib::Headers{{"Origin", "https://evil.example"}, {"Sec-Fetch-Site", "cross-site"}}, "{}",
      "application/json");
  ASSERT_TRUE(csrf);
  EXPECT_EQ(csrf->status, 403) << csrf->body;
  // DNS rebinding: the page's own name now points at 127.0.0.1.
  auto rebound = cli.Put("/v1/kv/app.hello.x", httplib::Headers{{"Host", "evil.example:4848"}},
                         R"({"value":"1"})", "application/json");
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403) << rebound->body;
  EXPECT_NE(rebound->body.find("DNS rebinding"), std::string::npos) << rebound->body;
  // Nothing happened: still up, the key unwritten.
  auto health = cli.Get("/v1/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto key = cli.Get("/v1/kv/app.hello.x");
  ASSERT_TRUE(key);
  EXPECT_EQ(key->status, 404) << key->body;
  EXPECT_EQ(dev.proc->output().find("reboot requested"), std::string::npos);
  // The same request from the CLI (no browser headers) works.
  auto put = run_myelin({"kv", "put", "--device", dev.address(), "app.hello.x=1"});
  EXPECT_EQ(put.exit_code, 0) << put.output;
}

namespace {

size_t open_fds(pid_t pid) {
  size_t n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it{"/proc/" + std::to_string(pid) + "/fd", ec}, end;
       !ec && it != end; it.increment(ec)) {
    ++n;
  }
  return n;
}

long rss_kb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

}  // namespace

// Issue 18: bodies are never inflated, chunked bodies only reach the
// uploads (which bound themselves), and idle connections cannot take every
// descriptor of myelin-boot.
TEST(control, body_bombs_and_idle_connections_are_bounded) {
  booted_device dev;
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  auto boot = dev.proc->pid();
  httplib::Client cli("127.0.0.1", dev.port);
  cli.set_read_timeout(5s);
  auto gzip = cli.Put("/v1/kv/app.hello.x", httplib::Headers{{"Content-Encoding", "gzip"}},
                      std::string(1000, 'x'), "application/json");
  ASSERT_TRUE(gzip);
  EXPECT_EQ(gzip->status, 415) << gzip->body;
  // 64 MiB of chunks to a JSON route: refused before a byte of it is read.
  auto before = rss_kb(boot);
  int fd = myelin::test::connect_loopback(dev.port);
  ASSERT_GE(fd, 0);
  std::string head =
      "PUT /v1/kv/app.hello.x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  std::string chunk = "100000\r\n" + std::string(1 << 20, '{') + "\r\n";
  size_t sent = 0;
  for (int i = 0; i < 64; ++i) {
    if (::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0) {
      break;  // the server hung up: as it should
    }
    sent += chunk.size();
  }
  std::string answer(256, '\0');
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  auto n = ::recv(fd, answer.data(), answer.size(), 0);
  ::close(fd);
  ASSERT_GT(n, 0) << "no answer after " << sent << " bytes";
  EXPECT_EQ(answer.rfind("HTTP/1.1 411", 0), 0u) << answer;
  EXPECT_LT(rss_kb(boot) - before, 16 * 1024) << "myelin-boot grew by the body";
  // 150 idle connections: myelin-boot keeps at most 64 of them open.
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = std::max<rlim_t>(lim.rlim_cur, std::min<rlim_t>(lim.rlim_max, 4096));
  ::setrlimit(RLIMIT_NOFILE, &lim);
  auto fds_before = open_fds(boot);
  std::vector<int> idle;
  for (int i = 0; i < 150; ++i) {
    int c = myelin::test::connect_loopback(dev.port);
    if (c >= 0) {
      idle.push_back(c);
    }
  }
  EXPECT_EQ(idle.size(), 150u);
  std::this_thread::sleep_for(200ms);
  auto held = open_fds(boot);
  for (int c : idle) {
    ::close(c);
  }
  EXPECT_LT(held, fds_before + 64 + 16) << "descriptors held for idle clients";
  // And it serves again at once.
  bool healthy = false;
  for (auto deadline = std::chrono::steady_clock::now() + 15s;
       !healthy && std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(50ms)) {
    auto h = cli.Get("/v1/health");
    healthy = h && h->status == 200;
  }
  EXPECT_TRUE(healthy);
}
