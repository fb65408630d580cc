// The hot-reload loop: from `myelin push` of one changed module to the new code
// answering (compile excluded), how many bytes a push sends, and the whole
// loop a user lives: a saved source file of hello → `myelin watch` rebuilds
// and pushes → the new code answers (compile included).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
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

std::string read_text(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes `text` as an editor saves: a new file renamed over the old one.
void save(const fs::path& p, const std::string& text) {
  auto tmp = p.string() + ".swp";
  std::ofstream{tmp, std::ios::binary} << text;
  fs::rename(tmp, p);
}

/// hello.cpp with its greeting replaced.
std::string with_greeting(const std::string& source, const std::string& greeting) {
  const std::string from = "\"Hello from myelin\"";
  auto out = source;
  out.replace(out.find(from), from.size(), "\"" + greeting + "\"");
  return out;
}

/// Runs `argv` in `dir` with its output appended to `log`; its pid.
pid_t spawn_in(const fs::path& dir, std::vector<std::string> args, const fs::path& log) {
  std::vector<std::string> sh{
      "/bin/sh", "-c", "cd '" + dir.string() + "' && exec \"$@\" >>'" + log.string() + "' 2>&1",
      "sh"};
  sh.insert(sh.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : sh) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv.data(), environ) != 0) {
    return -1;
  }
  return pid;
}

/// save → `myelin watch` rebuilds and pushes → the new code answers, in a
/// copy of the source tree (as a user edits theirs), and the compile alone.
int save_to_running(const fs::path& build) {
  auto source = build.parent_path();
  auto tmp = fs::temp_directory_path() / ("myelin-bench-save-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  // Kept when the scenario fails, for its log.
  struct cleanup {
    fs::path p;
    bool keep = false;
    ~cleanup() {
      if (!keep) {
        fs::remove_all(p);
      }
    }
  } guard{tmp};
  auto tree = tmp / "myelin";
  fs::create_directories(tree);
  for (const auto& ent : fs::directory_iterator{source}) {
    auto name = ent.path().filename().string();
    if (name.rfind("build", 0) != 0 && name != ".git" && name != "docs") {
      fs::copy(ent.path(), tree / name, fs::copy_options::recursive);
    }
  }
  auto log = tmp / "watch.log";
  auto sh = [&](const std::string& cmd) {
    return std::system(
        ("cd '" + tree.string() + "' && " + cmd + " >>'" + log.string() + "' 2>&1").c_str());
  };
  if (sh("cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build --target hello") !=
      0) {
    std::cerr << "reload: cannot build hello in a copy of the tree (" << log.string() << ")\n";
    guard.keep = true;
    return 1;
  }
  auto hello_cpp = tree / "apps" / "hello" / "hello.cpp";
  const auto original = read_text(hello_cpp);
  // Every greeting is new, so no compiler cache can answer for the compiler.
  auto unique = [n = 0]() mutable {
    return "Hello " + std::to_string(::getpid()) + "-" + std::to_string(++n) + "-" +
           std::to_string(steady::now().time_since_epoch().count());
  };
  std::vector<double> compile_ms;
  for (int i = 0; i < 3; ++i) {
    save(hello_cpp, with_greeting(original, unique()));
    auto t0 = steady::now();
    if (sh("cmake --build build --target hello") != 0) {
      std::cerr << "reload: the compile failed (" << log.string() << ")\n";
      guard.keep = true;
      return 1;
    }
    compile_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
  }
  device dev{{"--set", "apphost.base_dir=" + (tree / "build" / "apps").string(), "--set",
              "apps.ticker.enabled=false", "--set", "apps.fault.enabled=false"}};
  if (!dev.wait_for("apps ready in", 20s)) {
    std::cerr << "reload: myelin-boot did not get ready\n";
    return 1;
  }
  auto watch = spawn_in(tree,
                        {bin_dir() + "/myelin", "watch", "--no-initial", "--device",
                         "127.0.0.1:" + std::to_string(dev.port()), "hello"},
                        log);
  if (watch < 0) {
    std::cerr << "reload: cannot start myelin watch\n";
    return 1;
  }
  struct stop_watch {
    pid_t pid;
    ~stop_watch() {
      kill(pid, SIGTERM);
      int status = 0;
      waitpid(pid, &status, 0);
    }
  } watch_guard{watch};
  // Let watch set up its inotify watches before the first save.
  std::this_thread::sleep_for(500ms);
  std::vector<double> save_ms;
  for (int i = 0; i < 5; ++i) {
    auto greeting = unique();
    auto t0 = steady::now();
    save(hello_cpp, with_greeting(original, greeting));
    while (reply_of(dev.port()) != greeting + ", world!") {
      dev.drain();
      if (steady::now() - t0 > 120s) {
        std::cerr << "reload: the saved code never answered (" << log.string() << ")\n";
        guard.keep = true;
        return 1;
      }
      std::this_thread::sleep_for(5ms);
    }
    save_ms.push_back(std::chrono::duration<double, std::milli>(steady::now() - t0).count());
  }
  result("save_to_running_p50_ms", percentile(save_ms, 50), "ms");
  result("compile_ms", median(compile_ms), "ms");
  return 0;
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
  return save_to_running(build);
}

}  // namespace

MYELIN_BENCH_SCENARIO("reload",
                      "push of one changed module until the new code answers; bytes a push sends",
                      reload_scenario);

}  // namespace myelin::bench
