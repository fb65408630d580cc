// A timer message an actor sends itself, without being its sender.
#pragma once

#include <chrono>
#include <utility>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/send.hpp>

namespace myelin::actors {

/// Sends `xs...` to `self` after `delay`, anonymously. `self->delayed_send(self,
/// …)` makes the actor the message's sender: when the timer fires while the
/// actor terminates, CAF 0.17 can leave the message in the closed mailbox,
/// where it keeps its sender — the actor — alive for good (LeakSanitizer
/// found all three app-host brokers leaked that way at a reboot).
template <class Self, class Rep, class Period, class... Ts>
void self_timer(Self* self, std::chrono::duration<Rep, Period> delay, Ts&&... xs) {
  caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), delay, std::forward<Ts>(xs)...);
}

}  // namespace myelin::actors
