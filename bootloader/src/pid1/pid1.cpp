// PID 1 duties: essential mounts, hostname, signals, the test power hook.
#include "pid1/pid1.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/actors/kv.hpp"

namespace myelin::bootloader::pid1 {

namespace {

// The inode of the initial PID namespace (PROC_PID_INIT_INO in the kernel).
constexpr ino_t initial_pid_namespace_inode = 0xEFFFFFFCU;

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string unescape(const std::string& field) {
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size()) {
      auto digits = field.substr(i + 1, 3);
      if (digits.size() == 3 && digits.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(digits, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += field[i];
  }
  return out;
}

bool is_mounted(const std::vector<std::string>& points, const std::string& target) {
  for (const auto& p : points) {
    if (p == target) {
      return true;
    }
  }
  return false;
}

std::string mount_one(const essential_mount& m) {
  std::error_code ec;
  std::filesystem::create_directories(m.target, ec);
  if (::mount(m.source.c_str(), m.target.c_str(), m.fstype.c_str(), m.flags,
              m.data.empty() ? nullptr : m.data.c_str()) != 0) {
    return "mount " + m.fstype + " on " + m.target + ": " + std::strerror(errno);
  }
  return "mounted " + m.fstype + " on " + m.target;
}

}  // namespace

const std::vector<essential_mount>& essential_mounts() {
  static const std::vector<essential_mount> mounts = {
      {"proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""},
      {"sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, ""},
      // The memory cgroup of each app host (apps.<name>.memory_limit_mb).
      {"cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, "nsdelegate"},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
      {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
  };
  return mounts;
}

std::vector<std::string> mount_points(const std::string& mountinfo) {
  // id parent major:minor root mount-point options ...
  std::vector<std::string> out;
  std::istringstream lines(mountinfo);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point) {
      out.push_back(unescape(point));
    }
  }
  return out;
}

std::vector<std::string> mount_essentials() {
  std::vector<std::string> report;
  auto points = mount_points(read_all("/proc/self/mountinfo"));
  for (const auto& m : essential_mounts()) {
    if (is_mounted(points, m.target)) {
      report.push_back(m.target + " already mounted");
      continue;
    }
    report.push_back(mount_one(m));
    if (m.target == "/proc") {
      // Now the check can see the rest.
      points = mount_points(read_all("/proc/self/mountinfo"));
    }
  }
  return report;
}

std::string hostname_from(const std::string& pattern, const std::string& serial) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.compare(i, 2, "%s") == 0) {
      out += serial;
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

std::string set_hostname(caf::actor_system& sys, const std::string& pattern) {
  if (pattern.empty()) {
    return "hostname left alone (pid1.hostname_pattern is empty)";
  }
  auto kv = sys.registry().get<caf::actor>(actors::kv_registry_name);
  if (!kv) {
    return "hostname not set: no kv service";
  }
  std::string result;
  caf::scoped_actor self{sys};
  self->request(kv, std::chrono::seconds{5}, actors::serial_atom::value)
      .receive(
          [&](const runtime::serial_result& serial) {
            auto name = hostname_from(pattern, serial.value);
            if (::sethostname(name.c_str(), name.size()) != 0) {
              result = "sethostname " + name + ": " + std::strerror(errno);
            } else {
              result = "hostname " + name + " (serial number from " + serial.source + ")";
            }
          },
          [&](const caf::error& err) {
            result = "hostname not set: serial number: " + sys.render(err);
          });
  return result;
}

std::optional<runtime::power_action> action_for_signal(int sig) {
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      return runtime::power_action::reboot;
    case SIGUSR1:
      return runtime::power_action::halt;
    case SIGUSR2:
      return runtime::power_action::poweroff;
    default:
      return std::nullopt;
  }
}

bool in_initial_pid_namespace() {
  struct stat st {};
  if (::stat("/proc/self/ns/pid", &st) != 0) {
    return true;
  }
  return st.st_ino == initial_pid_namespace_inode;
}

std::function<int(runtime::power_action, const std::string&)> recording_system_call(
    std::string file) {
  return [file](runtime::power_action a, const std::string& arg) -> int {
    std::ofstream out(file, std::ios::app);
    out << runtime::to_string(a) << (arg.empty() ? "" : " " + arg) << "\n";
    out.flush();
    return out ? 0 : EIO;
  };
}

}  // namespace myelin::bootloader::pid1
