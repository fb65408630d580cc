// What a service does when one of its threads fails (runtime::run_guarded):
// its actor exits with the reason, and its supervisor restarts it — the core
// lives on (decision 0075).
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <caf/actor.hpp>
#include <caf/actor_addr.hpp>
#include <caf/actor_cast.hpp>
#include <caf/atom.hpp>
#include <caf/exit_reason.hpp>
#include <caf/make_message.hpp>
#include <caf/message_id.hpp>
#include <caf/sec.hpp>
#include <caf/system_messages.hpp>

#include "myelin/runtime/platform/guarded_thread.hpp"

namespace myelin::actors {

/// Ends `owner` with "thread failed: <why>".
inline runtime::thread_failure_fn exit_on_failure(caf::actor owner) {
  return [owner](const std::string& why) {
    // anon_send_exit takes only an exit_reason; the exit message carries any error.
    if (owner) {
      owner->enqueue(
          nullptr, caf::make_message_id(),
          caf::make_message(caf::exit_msg{
              owner->address(), caf::make_error(caf::sec::runtime_error, "thread failed: " + why)}),
          nullptr);
    }
  };
}

/// For threads a start function starts before it is done with the state its
/// actor's cleanup touches: a failure is held until arm(), so the cleanup
/// (which joins the thread) never runs while the start function still
/// assigns. Holds the owner weakly (the owner holds the threads).
class failure_relay {
 public:
  /// What the threads get.
  static runtime::thread_failure_fn handler(const std::shared_ptr<failure_relay>& relay) {
    return [relay](const std::string& why) {
      std::lock_guard<std::mutex> lock{relay->mtx_};
      if (relay->armed_) {
        relay->deliver(why);
      } else if (!relay->pending_) {
        relay->pending_ = why;
      }
    };
  }

  /// From now on failures end `owner`; one that came before does now.
  void arm(const caf::actor& owner) {
    std::lock_guard<std::mutex> lock{mtx_};
    owner_ = owner.address();
    armed_ = true;
    if (pending_) {
      deliver(*pending_);
    }
  }

 private:
  void deliver(const std::string& why) {
    if (auto strong = caf::actor_cast<caf::actor>(owner_)) {
      exit_on_failure(strong)(why);
    }
  }

  std::mutex mtx_;
  caf::actor_addr owner_;
  bool armed_ = false;
  std::optional<std::string> pending_;
};

}  // namespace myelin::actors
