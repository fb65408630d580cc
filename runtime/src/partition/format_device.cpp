// mkfs for the application partition, by pid, with a time limit.
#include "partition/format_device.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/partition/mount_table.hpp"
#include "myelin/runtime/platform/spawn.hpp"

namespace myelin::runtime {

namespace {

std::vector<std::string> split_words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) {
    out.push_back(w);
  }
  return out;
}

std::vector<std::string> default_dirs() {
  std::vector<std::string> out;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::string p = path;
    size_t start = 0;
    while (start <= p.size()) {
      auto end = p.find(':', start);
      auto dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
      if (!dir.empty()) {
        out.push_back(dir);
      }
      if (end == std::string::npos) {
        break;
      }
      start = end + 1;
    }
  }
  // As PID 1 there may be no PATH at all.
  for (const char* d : {"/sbin", "/usr/sbin", "/bin", "/usr/bin"}) {
    out.emplace_back(d);
  }
  return out;
}

// The last `n` lines of `s`, on one line, for an error message.
std::string tail_lines(const std::string& s, size_t n) {
  std::vector<std::string> lines;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) {
      lines.push_back(line);
    }
  }
  std::string out;
  for (size_t i = lines.size() > n ? lines.size() - n : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : " | ") + lines[i];
  }
  return out;
}

struct run_result {
  int status = 0;
  bool timed_out = false;
  std::string output;
  std::string spawn_error;
};

// Runs argv (no shell) in its own process group, stdout+stderr captured.
run_result run_with_limit(const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  run_result r;
  run_options o;
  o.spawn.argv = argv;
  o.capture = true;
  o.merge_stderr = true;
  o.keep_end = true;
  o.max_output = 16384;
  o.timeout = limit;
  auto out = run_program(std::move(o));
  if (out) {
    r.status = out->status;
    r.output = std::move(out->output);
  } else if (out.error().code() == static_cast<uint8_t>(spawn_errc::timed_out)) {
    r.timed_out = true;
  } else {
    r.spawn_error = describe(out.error());
  }
  return r;
}

}  // namespace

std::string find_mkfs(const std::string& fstype, const std::vector<std::string>& dirs) {
  auto name = "mkfs." + fstype;
  for (const auto& dir : dirs.empty() ? default_dirs() : dirs) {
    auto path = dir + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) {
      return path;
    }
  }
  return {};
}

caf::error format_device(const format_request& req) {
  if (req.fstype != "ext4" && req.fstype != "vfat" && req.fstype != "f2fs") {
    return make_error(mount_errc::bad_config,
                      "cannot format " + req.fstype + ": not one of ext4, vfat, f2fs");
  }
  std::vector<std::string> argv;
  auto mkfs = find_mkfs(req.fstype, req.dirs);
  if (mkfs.empty()) {
    const char* package = req.fstype == "ext4"   ? "e2fsprogs"
                          : req.fstype == "vfat" ? "dosfstools"
                                                 : "f2fs-tools";
    return make_error(mount_errc::mkfs_missing, "mkfs." + req.fstype + " not found (install " +
                                                    package + " in the firmware image)");
  }
  argv.push_back(mkfs);
  if (req.fstype == "ext4") {
    argv.insert(argv.end(), {"-F", "-q"});
  } else if (req.fstype == "f2fs") {
    argv.insert(argv.end(), {"-f", "-q"});
  }
  for (auto& w : split_words(req.mkfs_options)) {
    argv.push_back(std::move(w));
  }
  argv.push_back(req.device);
  auto r = run_with_limit(argv, req.timeout);
  std::string cmd;
  for (const auto& a : argv) {
    cmd += (cmd.empty() ? "" : " ") + a;
  }
  if (!r.spawn_error.empty()) {
    return make_error(mount_errc::format_failed, cmd + ": " + r.spawn_error);
  }
  if (r.timed_out) {
    return make_error(mount_errc::format_failed,
                      cmd + ": killed after " + std::to_string(req.timeout.count()) + " ms");
  }
  if (WIFSIGNALED(r.status)) {
    return make_error(mount_errc::format_failed,
                      cmd + ": killed by signal " + std::to_string(WTERMSIG(r.status)));
  }
  if (WEXITSTATUS(r.status) != 0) {
    auto out = tail_lines(r.output, 3);
    return make_error(
        mount_errc::format_failed,
        cmd + ": exit " + std::to_string(WEXITSTATUS(r.status)) + (out.empty() ? "" : ": " + out));
  }
  return {};
}

}  // namespace myelin::runtime
