// A myelin-boot started by a benchmark, and helpers to measure it.
#include "device.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

#include <httplib.h>

namespace myelin::bench {

std::string bin_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"build/bin"} : exe.parent_path().string();
}

device::device(std::vector<std::string> extra) {
  namespace fs = std::filesystem;
  auto bin = fs::path{bin_dir()};
  auto source = bin.parent_path().parent_path();
  char tmpl[] = "/tmp/myelin-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  // App hosts run as users of their own when this runs as root (decision 0079).
  ::chmod(tmpl, 0755);
  state_dir_ = tmpl;
  std::vector<std::string> args{(bin / "myelin-boot").string(),
                                "--config",
                                (source / "config" / "host.toml").string(),
                                "--set",
                                "control.port=0",
                                "--set",
                                "state.dir=" + state_dir_,
                                "--set",
                                "apphost.base_dir=" + (bin.parent_path() / "apps").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  started_ = std::chrono::steady_clock::now();
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  out_ = fds[0];
}

device::~device() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_ >= 0) {
    close(out_);
  }
  std::error_code ec;
  std::filesystem::remove_all(state_dir_, ec);
}

std::optional<std::chrono::steady_clock::time_point> device::wait_for(const std::string& needle,
                                                                      std::chrono::seconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  size_t scanned = 0;
  while (true) {
    auto pos = buffer_.find(needle, scanned);
    if (pos != std::string::npos && buffer_.find('\n', pos) != std::string::npos) {
      auto now = std::chrono::steady_clock::now();
      std::smatch m;
      if (port_ == 0 &&
          std::regex_search(buffer_, m, std::regex{R"(https?://127\.0\.0\.1:(\d+))"})) {
        port_ = std::stoi(m[1]);
      }
      buffer_.erase(0, buffer_.find('\n', pos) + 1);
      return now;
    }
    scanned = buffer_.size() > needle.size() ? buffer_.size() - needle.size() : 0;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      return std::nullopt;
    }
    pollfd p{out_, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0) {
      return std::nullopt;
    }
    char buf[4096];
    auto n = read(out_, buf, sizeof(buf));
    if (n <= 0) {
      return std::nullopt;
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

std::string device::rest(std::chrono::milliseconds limit) {
  pollfd p{out_, POLLIN, 0};
  while (poll(&p, 1, static_cast<int>(limit.count())) > 0) {
    char buf[4096];
    auto n = read(out_, buf, sizeof(buf));
    if (n <= 0) {
      break;
    }
    buffer_.append(buf, static_cast<size_t>(n));
  }
  return buffer_;
}

void device::drain() {
  pollfd p{out_, POLLIN, 0};
  while (poll(&p, 1, 0) > 0) {
    char buf[16384];
    if (read(out_, buf, sizeof(buf)) <= 0) {
      break;
    }
  }
}

void device::stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
}

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return 0;
}

std::string cmdline_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(s.begin(), s.end(), '\0', ' ');
  return s;
}

std::pair<int, std::string> post(int port, const std::string& path, const std::string& body) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(std::chrono::seconds{30});
  auto res = cli.Post(path, body, "application/json");
  if (!res) {
    return {0, {}};
  }
  return {res->status, res->body};
}

double median(std::vector<double> v) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace myelin::bench
