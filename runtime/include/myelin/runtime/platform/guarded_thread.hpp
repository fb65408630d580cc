// Threads that cannot take the process down: an exception escaping a thread
// body calls std::terminate — as PID 1, a kernel panic. Every thread of the
// core runs its body through run_guarded, which turns the exception into a
// failure its owner handles (for a service: an exit its supervisor sees).
//
// Test faults (decision 0075): a test can make a named thread throw at its
// start, to prove the recovery. They exist only when myelin-boot enables them
// from `testing.faults`, which it refuses as a device's PID 1.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace myelin::runtime {

/// Told why a guarded thread's body failed (the exception's what()).
using thread_failure_fn = std::function<void(const std::string& why)>;

/// Names the calling thread `name`, runs `body`, and catches what escapes it:
/// logs it as critical and calls `on_failure` (may be empty: logged only).
/// `fault_at_start`: a test fault armed for `name` throws before `body`
/// (false: the body takes its own, with take_test_fault).
void run_guarded(const char* name, const std::function<void()>& body,
                 const thread_failure_fn& on_failure, bool fault_at_start = true);

/// A std::thread running `body` through run_guarded.
std::thread guarded_thread(const char* name, std::function<void()> body,
                           thread_failure_fn on_failure = {});

/// Arms test faults: each spec is `THREAD` (throw once, at the start of the
/// next thread of that name) or `THREAD*N` (the next N). Call before threads
/// start; only myelin-boot does, and only off a device's PID 1.
void enable_test_faults(const std::vector<std::string>& specs);

/// Throws std::runtime_error("test fault in NAME") when a fault is armed for
/// `name` (and disarms one). Nothing otherwise.
void test_fault_point(const char* name);

/// Whether a fault is armed for `name` (disarming one), for threads that
/// fail in their own way (a listener made to stop).
bool take_test_fault(const char* name);

}  // namespace myelin::runtime
