// Guarded thread bodies and test faults (see guarded_thread.hpp).
#include "myelin/runtime/platform/guarded_thread.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <stdexcept>

#include <spdlog/spdlog.h>

#include "myelin/runtime/platform/thread_name.hpp"

namespace myelin::runtime {

namespace {

struct test_faults {
  std::mutex mtx;
  std::map<std::string, int, std::less<>> armed;
  std::atomic<bool> any{false};
};

test_faults& faults() {
  static test_faults f;
  return f;
}

}  // namespace

void enable_test_faults(const std::vector<std::string>& specs) {
  auto& f = faults();
  std::lock_guard<std::mutex> lock{f.mtx};
  for (const auto& spec : specs) {
    auto star = spec.find('*');
    int count = 1;
    if (star != std::string::npos) {
      count = std::max(1, std::atoi(spec.c_str() + star + 1));
    }
    f.armed[spec.substr(0, star)] += count;
  }
  f.any = !f.armed.empty();
}

bool take_test_fault(const char* name) {
  auto& f = faults();
  if (!f.any.load(std::memory_order_relaxed)) {
    return false;
  }
  std::lock_guard<std::mutex> lock{f.mtx};
  auto i = f.armed.find(name);
  if (i == f.armed.end() || i->second <= 0) {
    return false;
  }
  --i->second;
  return true;
}

void test_fault_point(const char* name) {
  if (take_test_fault(name)) {
    throw std::runtime_error(std::string{"test fault in "} + name);
  }
}

void run_guarded(const char* name, const std::function<void()>& body,
                 const thread_failure_fn& on_failure, bool fault_at_start) {
  name_this_thread(name);
  std::string why;
  try {
    if (fault_at_start) {
      test_fault_point(name);
    }
    body();
    return;
  } catch (const std::exception& e) {
    why = e.what();
  } catch (...) {
    why = "an exception that is not a std::exception";
  }
  spdlog::critical("thread {} failed: {}", name, why);
  if (on_failure) {
    try {
      on_failure(why);
    } catch (...) {
      spdlog::critical("thread {}: its failure handler threw too", name);
    }
  }
}

std::thread guarded_thread(const char* name, std::function<void()> body,
                           thread_failure_fn on_failure) {
  return std::thread([name, body = std::move(body), on_failure = std::move(on_failure)] {
    run_guarded(name, body, on_failure);
  });
}

}  // namespace myelin::runtime
