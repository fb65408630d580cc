// Helpers shared by myelin's test binaries.
#include "myelin/test/support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace myelin::test {

std::filesystem::path bin_dir() {
  if (const char* dir = std::getenv("MYELIN_BIN_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return MYELIN_DEFAULT_BIN_DIR;
}

std::filesystem::path source_dir() {
  if (const char* dir = std::getenv("MYELIN_SOURCE_DIR"); dir != nullptr && *dir != '\0') {
    return dir;
  }
  return MYELIN_DEFAULT_SOURCE_DIR;
}

temp_dir::temp_dir() {
  auto pattern = (std::filesystem::temp_directory_path() / "myelin-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  // Searchable by everyone: app hosts run as users of their own when the
  // tests run as root (decision 0079), and load their modules from here.
  ::chmod(pattern.c_str(), 0755);
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void fix_tar_checksum(std::string& tar, size_t offset) {
  tar.replace(offset + 148, 8, std::string(8, ' '));
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) {
    sum += static_cast<unsigned char>(tar[offset + i]);
  }
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  tar.replace(offset + 148, 8, std::string(chk, 6) + std::string{'\0', ' '});
}

void write_file(const std::filesystem::path& file, const std::string& contents) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) {
    throw std::runtime_error("cannot write " + file.string());
  }
}

std::string read_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

size_t resident_bytes(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return 0;
  }
  struct stat st {};
  ::fstat(fd, &st);
  auto size = static_cast<size_t>(st.st_size);
  size_t resident = 0;
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
      auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
      std::vector<unsigned char> vec((size + page - 1) / page);
      if (::mincore(map, size, vec.data()) == 0) {
        for (auto v : vec) {
          resident += (v & 1) != 0 ? page : 0;
        }
      }
      ::munmap(map, size);
    }
  }
  ::close(fd);
  return resident;
}

bool reports_direct_io(const std::filesystem::path& file) {
  struct statx stx {};
  return ::statx(AT_FDCWD, file.c_str(), 0, STATX_DIOALIGN, &stx) == 0 &&
         (stx.stx_mask & STATX_DIOALIGN) != 0 && stx.stx_dio_offset_align != 0;
}

loop_device::loop_device(const std::filesystem::path& backing) {
  why_not_ = missing_root();
  if (!why_not_.empty()) {
    return;
  }
  if (run("command -v losetup").exit_code != 0) {
    why_not_ = "needs losetup";
    return;
  }
  auto r = run("losetup -f --show " + shell_quote(backing.string()));
  if (r.exit_code != 0) {
    why_not_ = "no loop device available: " + r.output;
    return;
  }
  path_ = r.output.substr(0, r.output.find('\n'));
}

loop_device::~loop_device() {
  if (!path_.empty()) {
    run("losetup -d " + shell_quote(path_));
  }
}

std::string missing_root() {
  if (geteuid() != 0) {
    return "needs root (running as uid " + std::to_string(geteuid()) + ")";
  }
  return {};
}

}  // namespace myelin::test

namespace myelin::test {

child_process::child_process(std::vector<std::string> argv) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  std::vector<char*> args;
  for (auto& a : argv) {
    args.push_back(a.data());
  }
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    // A new process group, so that signals the test sends reach only this tree.
    setpgid(0, 0);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  out_fd_ = fds[0];
}

child_process::~child_process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (out_fd_ >= 0) {
    close(out_fd_);
  }
}

bool child_process::read_some(std::chrono::milliseconds timeout) {
  pollfd p{out_fd_, POLLIN, 0};
  int rc = poll(&p, 1, static_cast<int>(timeout.count()));
  if (rc <= 0) {
    return false;
  }
  char buf[4096];
  auto n = read(out_fd_, buf, sizeof(buf));
  if (n <= 0) {
    return false;
  }
  output_.append(buf, static_cast<size_t>(n));
  return true;
}

std::optional<std::string> child_process::wait_for_line(const std::string& needle,
                                                        std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    // Look only at complete lines not scanned before.
    while (true) {
      auto eol = output_.find('\n', scanned_);
      if (eol == std::string::npos) {
        break;
      }
      auto line = output_.substr(scanned_, eol - scanned_);
      scanned_ = eol + 1;
      if (line.find(needle) != std::string::npos) {
        return line;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_some(left)) {
      return std::nullopt;
    }
  }
}

void child_process::signal(int sig) {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, sig);
  }
}

std::optional<int> child_process::wait(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    auto rc = waitpid(pid_, &status, WNOHANG);
    if (rc == pid_) {
      reaped_ = true;
      // Drain what is left of the output.
      while (read_some(std::chrono::milliseconds{50})) {
      }
      return status;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    read_some(std::chrono::milliseconds{20});
  }
}

}  // namespace myelin::test

namespace myelin::test {

command_result run(const std::string& command) {
  command_result out;
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (pipe == nullptr) {
    out.output = "popen failed";
    return out;
  }
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) {
    out.output.append(buf, n);
  }
  int status = pclose(pipe);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

named_netns::named_netns(const std::string& prefix) {
  static std::atomic<int> counter{0};
  name_ = prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++counter);
  auto r = run("ip netns add " + name_ + " && ip -n " + name_ + " link set lo up");
  if (r.exit_code != 0) {
    error_ = "ip netns add: " + r.output;
  }
}

named_netns::~named_netns() {
  if (error_.empty()) {
    run("ip netns del " + name_);
  }
}

command_result named_netns::ip(const std::string& args) const {
  return run("ip -n " + name_ + " " + args);
}

}  // namespace myelin::test
