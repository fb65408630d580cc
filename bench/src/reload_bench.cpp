// The hot-reload loop: from `myelin push` of one changed module to the new code
// answering (compile excluded), and how many bytes a push sends.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"
#include "myelin/tools/push.hpp"

namespace myelin::bench {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

std::string reply_of(int port) {
  auto [status, body] = post(port, "/v1/apps/hello/call", R"({"command":"hello"})");
  if (status != 200) {
    return {};
  }
  return nlohmann::json::parse(body, nullptr, false).value("reply", "");
}

void install(const fs::path& tree, const std::string& app, const fs::path& module) {
  fs::create_directories(tree / "apps" / app);
  fs::copy_file(module, tree / "apps" / app / ("lib" + app + ".so"),
                fs::copy_options::overwrite_existing);
}

int reload_scenario(const std::vector<std::string>&) {
  fs::path build = fs::path{bin_dir()}.parent_path();
  auto v2 = build / "test-apps" / "hello_v2" / "libhello_v2.so";
  if (!fs::exists(v2)) {
    std::cerr << "reload: " << v2.string()
              << " is missing (cmake --build build --target hello_v2)\n";
    return 1;
  }
  device dev;
  if (!dev.wait_for("apps ready in", 20s)) {
    std::cerr << "reload: myelin-boot did not get ready\n";
    return 1;
  }
  auto tmp = fs::temp_directory_path() / ("myelin-bench-reload-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  struct cleanup {
    fs::path p;
    ~cleanup() { fs::remove_all(p); }
  } guard{tmp};
  tools::push_options opts;
  opts.device.port = static_cast<uint16_t>(dev.port());
  opts.build_dir = tmp.string();
  for (const char* app : {"hello", "ticker", "fault"}) {
    install(tmp, app, build / "apps" / app / ("lib" + std::string{app} + ".so"));
  }
  // One changed module of one app: push until the new code answers.
  std::vector<double> push_ms, restart_ms, sent, changed;
  for (int i = 0; i < 20; ++i) {
    bool to_v2 = i % 2 == 0;
    install(tmp, "hello", to_v2 ? v2 : build / "apps" / "hello" / "libhello.so");
    auto expected = to_v2 ? "Hello from pushed myelin, world!" : "Hello from myelin, world!";
    opts.apps = {"hello"};
    auto t0 = steady::now();
    auto r = tools::push(opts);
    if (!r || !r->pushed) {
      std::cerr << "reload: push failed\n";
      return 1;
    }
    while (reply_of(dev.port()) != expected) {
      if (steady::now() - t0 > 20s) {
        std::cerr << "reload: the new version never answered\n";
        return 1;
      }
    }
    push_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
    // The same change with all three apps in the push: only hello's bytes go.
    install(tmp, "hello", to_v2 ? build / "apps" / "hello" / "libhello.so" : v2);
    opts.apps = {"hello", "ticker", "fault"};
    r = tools::push(opts);
    if (!r || !r->pushed) {
      std::cerr << "reload: push of three apps failed\n";
      return 1;
    }
    sent.push_back(static_cast<double>(r->bytes_sent));
    changed.push_back(static_cast<double>(r->bytes_changed));
    install(tmp, "hello", to_v2 ? v2 : build / "apps" / "hello" / "libhello.so");
    r = tools::push(opts);
    // The floor: a plain restart of the app until it answers again.
    auto t1 = steady::now();
    post(dev.port(), "/v1/apps/hello/restart", "{}");
    while (reply_of(dev.port()).empty()) {
      if (steady::now() - t1 > 20s) {
        return 1;
      }
    }
    restart_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t1).count());
  }
  result("push_to_running_p50_ms", percentile(push_ms, 50), "ms");
  result("push_to_running_p90_ms", percentile(push_ms, 90), "ms");
  result("restart_floor_p50_ms", percentile(restart_ms, 50), "ms");
  result("bytes_sent", median(sent), "bytes");
  result("bytes_changed", median(changed), "bytes");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("reload",
                      "push of one changed module until the new code answers; bytes a push sends",
                      reload_scenario);

}  // namespace myelin::bench
