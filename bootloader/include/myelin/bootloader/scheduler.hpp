// CAF's scheduler with a clock that does not wake its thread for every
// request (decision 0066).
//
// CAF 0.17's clock (detail::thread_safe_actor_clock) hands every timer event
// — each `request(..., timeout)` arms one and its response cancels it — to
// its own thread through a queue, waking that thread twice per request. On a
// two-core device those wake-ups sit on the request's path: an app's kv
// request took ≈ 96 µs with them and ≈ 68 µs without (myelin-bench ipc).
//
// lazy_clock keeps the same schedule (CAF's simple_actor_clock, the same
// events, shipped the same way) under a mutex, and wakes its thread only
// when a new entry is due before the moment the thread will wake anyway.
// A cancellation never wakes it: a thread that wakes for a cancelled entry
// finds nothing due and sleeps again.
#pragma once

#include <string>

#include <caf/fwd.hpp>

namespace myelin::bootloader {

/// Makes `cfg`'s actor system use CAF's scheduler with `policy` ("sharing" or
/// "stealing", as scheduler.policy) and lazy_clock as its clock.
void use_lazy_clock_scheduler(caf::actor_system_config& cfg, const std::string& policy);

}  // namespace myelin::bootloader
