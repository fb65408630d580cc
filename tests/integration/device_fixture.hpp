// A real myelin-boot started by a test, and helpers to run the myelin tool.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "myelin/test/support.hpp"

namespace myelin::test {

inline std::string bin(const char* name) {
  return (bin_dir() / name).string();
}

inline std::string host_config() {
  return (source_dir() / "config" / "host.toml").string();
}

inline int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/// Starts `argv` (a myelin-boot command line) into `proc` and waits for its
/// ready line: the line, or nullopt (a test failure, with the output).
inline std::optional<std::string> start_until_ready(std::unique_ptr<child_process>& proc,
                                                    const std::vector<std::string>& argv) {
  proc = std::make_unique<child_process>(argv);
  auto line = proc->wait_for_line("ready in", std::chrono::seconds{20});
  if (!line) {
    ADD_FAILURE() << "myelin-boot did not get ready; output:\n" << proc->output();
  }
  return line;
}

/// The control channel's port named in a ready line; 0 if none.
/// A loopback port nobody listens on now.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

inline int port_of(const std::string& ready_line) {
  std::smatch m;
  if (std::regex_search(ready_line, m, std::regex{R"(https?://127\.0\.0\.1:(\d+))"})) {
    return std::stoi(m[1]);
  }
  return 0;
}

/// A running myelin-boot (host.toml) on a free port with its state in a
/// temporary directory (or `state_dir` when given, to restart on the same state).
struct booted_device {
  std::unique_ptr<temp_dir> own_state;
  std::string state;
  std::unique_ptr<child_process> proc;
  std::string ready_line;
  int port = 0;

  explicit booted_device(std::vector<std::string> extra = {}, std::string state_dir = {}) {
    if (state_dir.empty()) {
      own_state = std::make_unique<temp_dir>();
      state_dir = own_state->path().string();
    }
    state = state_dir;
    std::vector<std::string> argv{bin("myelin-boot"), "--config", host_config(),       "--set",
                                  "control.port=0",   "--set",    "state.dir=" + state};
    // The example apps of this build, wherever the test runs from.
    argv.insert(argv.end(),
                {"--set", "apphost.base_dir=" + (bin_dir().parent_path() / "apps").string()});
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (auto line = start_until_ready(proc, argv)) {
      ready_line = *line;
      port = port_of(ready_line);
    }
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  /// Waits for the "apps ready" line (all enabled apps answered or failed).
  std::optional<std::string> apps_ready() {
    return proc->wait_for_line("apps ready in", std::chrono::seconds{20});
  }

  /// The host-mode environment's fw_env.config.
  std::string fw_env_config() const { return state + "/kv/fw_env.config"; }
};

/// Polls `pred` every 50 ms until it holds or `timeout` passes; its last value.
template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  }
  return pred();
}

/// The child processes of `pid` (all its threads'), from /proc.
inline std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "children");
    for (pid_t child = 0; in >> child;) {
      out.push_back(child);
    }
  }
  return out;
}

/// comm and state of a process, from /proc/<pid>/stat.
struct proc_stat {
  std::string comm;
  char state = '?';
};

/// nullopt once the process is gone.
inline std::optional<proc_stat> stat_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) {
    return std::nullopt;
  }
  auto open = line.find('(');
  auto close = line.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= line.size()) {
    return std::nullopt;
  }
  return proc_stat{line.substr(open + 1, close - open - 1), line[close + 2]};
}

/// The first of /usr/sbin, /usr/bin, /sbin, /bin that holds an executable
/// `name`; empty when none does.
inline std::string program_path(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    auto candidate = std::filesystem::path{dir} / name;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate.string();
    }
  }
  return {};
}

/// myelin-boot (host.toml) inside the network namespace `ns`, with the
/// example apps off; `extra` adds options. Stopped with SIGTERM at the end.
struct netns_device {
  temp_dir state;
  std::unique_ptr<child_process> proc;
  int port = 0;

  explicit netns_device(const named_netns& ns, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{program_path("ip"),
                                  "netns",
                                  "exec",
                                  ns.name(),
                                  bin("myelin-boot"),
                                  "--config",
                                  host_config(),
                                  "--set",
                                  "control.port=0",
                                  "--set",
                                  "state.dir=" + state.path().string()};
    for (const char* app : {"hello", "ticker", "fault"}) {
      argv.insert(argv.end(), {"--set", std::string{"apps."} + app + ".enabled=false"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (auto line = start_until_ready(proc, argv)) {
      port = port_of(*line);
    }
  }

  ~netns_device() {
    if (proc) {
      proc->signal(SIGTERM);
      proc->wait(std::chrono::seconds{20});
    }
  }

  netns_device(const netns_device&) = delete;
  netns_device& operator=(const netns_device&) = delete;

  /// HOST:PORT of the control channel; empty before it is known.
  std::string address() const { return port > 0 ? "127.0.0.1:" + std::to_string(port) : ""; }
};

/// Runs the myelin tool inside the namespace `ns` (a hung tool fails the test
/// after 60 s instead of hanging it).
inline command_result netns_cli(const named_netns& ns, const std::vector<std::string>& args) {
  std::string cmd = "timeout 60 ip netns exec " + ns.name() + " " + shell_quote(bin("myelin"));
  for (const auto& a : args) {
    cmd += " " + shell_quote(a);
  }
  return run(cmd);
}

/// A TCP connection to 127.0.0.1:`port` (-1 if it cannot be made).
inline int connect_loopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// Calls a command of an app through the control channel: its reply, or
/// nullopt if the call failed.
inline std::optional<std::string> call_app(int port, const std::string& app,
                                           const std::string& command,
                                           std::vector<std::string> args = {}) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(std::chrono::seconds{10});
  nlohmann::json body{{"command", command}, {"args", args}};
  auto res = cli.Post("/v1/apps/" + app + "/call", body.dump(), "application/json");
  if (!res || res->status != 200) {
    return std::nullopt;
  }
  return nlohmann::json::parse(res->body)["reply"].get<std::string>();
}

/// Runs the myelin tool with `args`; output is stdout and stderr together.
inline command_result run_myelin(const std::vector<std::string>& args) {
  std::string cmd = shell_quote(bin("myelin"));
  for (const auto& a : args) {
    cmd += " " + shell_quote(a);
  }
  return run(cmd);
}

}  // namespace myelin::test
