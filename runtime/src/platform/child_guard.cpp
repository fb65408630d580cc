// The registry of children awaited by pid (see child_guard.hpp).
#include "myelin/runtime/platform/child_guard.hpp"

#include <mutex>
#include <unordered_set>

namespace myelin::runtime {

namespace {

struct awaited_registry {
  std::mutex mtx;
  std::unordered_multiset<pid_t> pids;
  int without_pid = 0;
};

awaited_registry& registry() {
  static awaited_registry r;
  return r;
}

}  // namespace

child_guard::child_guard() {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mtx};
  ++r.without_pid;
}

child_guard::~child_guard() {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mtx};
  if (pid_ > 0) {
    if (auto i = r.pids.find(pid_); i != r.pids.end()) {
      r.pids.erase(i);
    }
  } else {
    --r.without_pid;
  }
}

void child_guard::set(pid_t pid) {
  if (pid <= 0 || pid_ > 0) {
    return;
  }
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mtx};
  pid_ = pid;
  r.pids.insert(pid);
  --r.without_pid;
}

bool child_awaited_elsewhere(pid_t pid) {
  auto& r = registry();
  std::lock_guard<std::mutex> guard{r.mtx};
  return r.without_pid > 0 || r.pids.count(pid) > 0;
}

}  // namespace myelin::runtime
