// `myelin watch`: inotify on the app sources, rebuild the changed targets with
// CMake, print compiler errors, push on success.
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "commands.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/tools/push.hpp"

namespace myelin::tools {

namespace {

namespace fs = std::filesystem;

struct watch_options {
  push_options push;
  std::string device;
  std::string source_dir = ".";
  /// Stop after this many build-and-push rounds (0: run until Ctrl-C).
  int rounds = 0;
  bool no_initial = false;
};

/// Runs a command through the shell; its exit code and output (stdout+stderr).
std::pair<int, std::string> run_captured(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return {127, "cannot run: " + cmd};
  }
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) {
    out.append(buf, n);
  }
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 1, out};
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  }
  return out + "'";
}

/// The build's output without progress noise: what the compiler said.
std::string compiler_messages(const std::string& output) {
  std::istringstream in{output};
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if ((line.size() > 1 && line[0] == '[' && line.find("%]") != std::string::npos) ||
        line.rfind("gmake", 0) == 0 || line.rfind("make", 0) == 0 ||
        line.rfind("ninja: build stopped", 0) == 0) {
      continue;
    }
    out += line + "\n";
  }
  return out;
}

bool ignored_name(const std::string& name) {
  return name.empty() || name[0] == '.' || name.back() == '~' ||
         (name.size() > 4 && name.compare(name.size() - 4, 4, ".swp") == 0);
}

class watcher {
 public:
  explicit watcher(const fs::path& build_dir) : build_(fs::weakly_canonical(build_dir)) {
    fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  }
  ~watcher() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  /// Watches `dir` and everything below it for `app` (the build dir excluded).
  void add_tree(const fs::path& dir, const std::string& app) {
    add_dir(dir, app);
    std::error_code ec;
    for (fs::recursive_directory_iterator it{dir, ec}, end; !ec && it != end; it.increment(ec)) {
      if (it->is_directory(ec)) {
        if (skip(it->path())) {
          it.disable_recursion_pending();
          continue;
        }
        add_dir(it->path(), app);
      }
    }
  }

  /// Watches `dir` alone (not below it) for `app`.
  void add_dir(const fs::path& dir, const std::string& app) {
    int wd = ::inotify_add_watch(
        fd_, dir.c_str(),
        IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ONLYDIR);
    if (wd >= 0) {
      dirs_[wd] = {dir, app};
    }
  }

  /// Reads pending events; the apps whose sources changed ("*": all).
  std::set<std::string> read_events() {
    std::set<std::string> apps;
    alignas(inotify_event) char buf[16384];
    while (true) {
      auto n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) {
        break;
      }
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        auto i = dirs_.find(ev->wd);
        if (i == dirs_.end()) {
          continue;
        }
        std::string name = ev->len > 0 ? ev->name : "";
        if ((ev->mask & IN_ISDIR) != 0 && (ev->mask & (IN_CREATE | IN_MOVED_TO)) != 0) {
          add_tree(i->second.first / name, i->second.second);
        }
        if (ignored_name(name)) {
          continue;
        }
        apps.insert(i->second.second);
      }
    }
    return apps;
  }

 private:
  bool skip(const fs::path& p) const {
    auto name = p.filename().string();
    return (!name.empty() && name[0] == '.') || fs::weakly_canonical(p) == build_;
  }

  fs::path build_;
  int fd_ = -1;
  std::map<int, std::pair<fs::path, std::string>> dirs_;
};

/// Builds `apps`, prints compiler errors, pushes the ones that built.
void build_and_push(const watch_options& o, const std::set<std::string>& apps) {
  push_options p = o.push;
  p.apps.clear();
  for (const auto& app : apps) {
    std::cout << "building " << app << " ..." << std::endl;
    auto [code, output] =
        run_captured("cmake --build " + quote(o.push.build_dir) + " --target " + quote(app));
    if (code != 0) {
      std::cout << compiler_messages(output) << app << ": build failed; fix it and save again\n"
                << std::flush;
      continue;
    }
    p.apps.push_back(app);
  }
  if (p.apps.empty()) {
    return;
  }
  auto r = push(p);
  if (!r) {
    std::cout << "push failed: " << runtime::describe(r.error()) << std::endl;
    return;
  }
  print_push_result(*r);
  std::cout << std::flush;
}

volatile std::sig_atomic_t stop_requested = 0;

}  // namespace

void add_watch_command(CLI::App& app) {
  auto o = std::make_shared<watch_options>();
  auto* cmd = app.add_subcommand(
      "watch", "Rebuild apps when their sources change and push them (Ctrl-C stops)");
  cmd->add_option("APP", o->push.apps, "Apps to watch (default: every app under apps/)");
  cmd->add_option("--device", o->device,
                  "HOST:PORT of the device (default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  cmd->add_option("--build-dir", o->push.build_dir, "The CMake build dir")->capture_default_str();
  cmd->add_option("--source-dir", o->source_dir,
                  "The source tree: apps/<app>/ (or one app: CMakeLists.txt at its top)")
      ->capture_default_str();
  cmd->add_flag("--persist", o->push.persist, "Keep the overlays across reboots");
  cmd->add_option("--key", o->push.key_file, "Sign with NAME.key (default: $MYELIN_OVERLAY_KEY)");
  cmd->add_flag("--no-initial", o->no_initial, "Do not build and push once at start");
  cmd->add_option("--rounds", o->rounds, "Stop after this many rebuilds (0: never)");
  cmd->callback([o] {
    auto dev = parse_device_address(o->device);
    if (!dev) {
      std::cerr << "myelin: " << runtime::describe(dev.error()) << "\n";
      finish(1);
    }
    o->push.device = *dev;
    if (auto err = set_credentials(o->push.device, "", "", "")) {
      std::cerr << "myelin: " << runtime::describe(err) << "\n";
      finish(1);
    }
    fs::path src = o->source_dir;
    std::map<std::string, fs::path> roots;
    auto apps = o->push.apps;
    if (apps.empty()) {
      std::error_code ec;
      for (const auto& ent : fs::directory_iterator{src / "apps", ec}) {
        auto name = ent.path().filename().string();
        if (ent.is_directory() && name != "include" && !ignored_name(name)) {
          apps.push_back(name);
        }
      }
    }
    if (apps.empty()) {
      std::cerr << "myelin watch: no apps under " << (src / "apps").string() << "\n";
      finish(1);
    }
    watcher w{o->push.build_dir};
    if (!w.ok()) {
      std::cerr << "myelin watch: inotify: " << std::strerror(errno) << "\n";
      finish(1);
    }
    if (fs::is_directory(src / "apps")) {
      // apps/CMakeLists.txt concerns every app.
      w.add_dir(src / "apps", "*");
    }
    for (const auto& a : apps) {
      // apps/<app>/ in a project; the source dir itself for a single app.
      auto root = fs::is_directory(src / "apps" / a) ? src / "apps" / a : src;
      w.add_tree(root, a);
    }
    std::set<std::string> all{apps.begin(), apps.end()};
    std::cout << "watching " << all.size() << " app(s) in " << src.string() << "; Ctrl-C stops"
              << std::endl;
    std::signal(SIGINT, [](int) { stop_requested = 1; });
    std::signal(SIGTERM, [](int) { stop_requested = 1; });
    if (!o->no_initial) {
      build_and_push(*o, all);
    }
    int rounds = 0;
    while (stop_requested == 0 && (o->rounds == 0 || rounds < o->rounds)) {
      pollfd pfd{w.fd(), POLLIN, 0};
      if (::poll(&pfd, 1, 500) <= 0) {
        continue;
      }
      auto changed = w.read_events();
      // Editors save in bursts: wait for 150 ms of quiet.
      while (::poll(&pfd, 1, 150) > 0) {
        auto more = w.read_events();
        changed.insert(more.begin(), more.end());
      }
      if (changed.count("*") != 0) {
        changed = all;
      }
      std::set<std::string> todo;
      for (const auto& a : changed) {
        if (all.count(a) != 0) {
          todo.insert(a);
        }
      }
      if (todo.empty()) {
        continue;
      }
      build_and_push(*o, todo);
      ++rounds;
    }
    finish(0);
  });
}

}  // namespace myelin::tools
