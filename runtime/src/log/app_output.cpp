// The last output lines of each app host, passed through to our stderr.
#include "myelin/runtime/log/app_output.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/thread_name.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace myelin::runtime::app_output {

namespace {

std::mutex mtx;
std::map<std::string, std::deque<std::string>>& rings() {
  static auto* r = new std::map<std::string, std::deque<std::string>>;
  return *r;
}

void remember(const std::string& app, std::string line) {
  std::lock_guard<std::mutex> guard{mtx};
  auto& ring = rings()[app];
  ring.push_back(std::move(line));
  while (ring.size() > kept_lines) {
    ring.pop_front();
  }
}

void drain(std::string app, int fd) {
  name_this_thread(("out." + app).c_str());
  std::string partial;
  char buf[4096];
  while (true) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    // Pass it on unchanged; a failed write to our stderr loses nothing we keep.
    [[maybe_unused]] auto w = ::write(2, buf, static_cast<size_t>(n));
    partial.append(buf, static_cast<size_t>(n));
    size_t start = 0;
    for (auto nl = partial.find('\n'); nl != std::string::npos; nl = partial.find('\n', start)) {
      remember(app, partial.substr(start, nl - start));
      start = nl + 1;
    }
    partial.erase(0, start);
    if (partial.size() > 4096) {
      remember(app, partial);
      partial.clear();
    }
  }
  if (!partial.empty()) {
    remember(app, partial);
  }
  ::close(fd);
}

}  // namespace

int capture(const std::string& app) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return -1;
  }
  try {
    std::thread{[app, fd = fds[0]] { run_guarded("out", [&] { drain(app, fd); }, {}); }}.detach();
  } catch (...) {
    ::close(fds[0]);
    ::close(fds[1]);
    return -1;
  }
  return fds[1];
}

std::vector<std::string> last_lines(const std::string& app) {
  std::lock_guard<std::mutex> guard{mtx};
  auto i = rings().find(app);
  if (i == rings().end()) {
    return {};
  }
  return {i->second.begin(), i->second.end()};
}

}  // namespace myelin::runtime::app_output
