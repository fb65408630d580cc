// The scheduler of decision 0066: CAF's coordinator with lazy_clock.
#include "myelin/bootloader/scheduler.hpp"

#include <chrono>
#include <condition_variable>
#include <limits>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/detail/set_thread_name.hpp>
#include <caf/detail/thread_safe_actor_clock.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/policy/work_stealing.hpp>
#include <caf/scheduler/coordinator.hpp>

namespace myelin::bootloader {

namespace {

using clock_base = caf::detail::simple_actor_clock;

/// Accepts an actor's ordinary (behavior `after`) timeout of `type`.
auto ordinary_timeout_of(caf::atom_value type) {
  return [type](const clock_base::delayed_event& e) {
    return e.subtype == clock_base::ordinary_timeout_type &&
           static_cast<const clock_base::ordinary_timeout&>(e).type == type;
  };
}

/// See scheduler.hpp. Derives from thread_safe_actor_clock only because
/// coordinator::clock() returns that type; none of its machinery is used.
class lazy_clock final : public caf::detail::thread_safe_actor_clock {
 public:
  using base = caf::detail::simple_actor_clock;
  using entry_ptr = base::unique_delayed_event_ptr;

  lazy_clock() = default;
  lazy_clock(const lazy_clock&) = delete;
  lazy_clock& operator=(const lazy_clock&) = delete;

  ~lazy_clock() override { stop(); }

  // -- arming: wake the thread only if the new entry is due before it wakes --

  void set_ordinary_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                            uint64_t id) override {
    std::vector<entry_ptr> dropped;
    std::unique_lock<std::mutex> guard{mx_};
    // CAF replaces an actor's ordinary timeout of the same type: keep the
    // replaced entry alive until the lock is released (see below).
    take(self->id(), ordinary_timeout_of(type), dropped);
    base::set_ordinary_timeout(t, self, type, id);
    wake_if_before(t);
  }

  void set_multi_timeout(time_point t, caf::abstract_actor* self, caf::atom_value type,
                         uint64_t id) override {
    std::unique_lock<std::mutex> guard{mx_};
    base::set_multi_timeout(t, self, type, id);
    wake_if_before(t);
  }

  void set_request_timeout(time_point t, caf::abstract_actor* self, caf::message_id id) override {
    std::unique_lock<std::mutex> guard{mx_};
    base::set_request_timeout(t, self, id);
    wake_if_before(t);
  }

  void schedule_message(time_point t, caf::strong_actor_ptr receiver,
                        caf::mailbox_element_ptr content) override {
    std::unique_lock<std::mutex> guard{mx_};
    base::schedule_message(t, std::move(receiver), std::move(content));
    wake_if_before(t);
  }

  void schedule_message(time_point t, caf::group target, caf::strong_actor_ptr sender,
                        caf::message content) override {
    std::unique_lock<std::mutex> guard{mx_};
    base::schedule_message(t, std::move(target), std::move(sender), std::move(content));
    wake_if_before(t);
  }

  // -- cancelling: never wakes the thread --------------------------------------
  // The entries hold strong references to actors; they are destroyed after
  // the lock is released, since an actor's last reference may run code that
  // calls the clock again.

  void cancel_ordinary_timeout(caf::abstract_actor* self, caf::atom_value type) override {
    std::vector<entry_ptr> dropped;
    std::unique_lock<std::mutex> guard{mx_};
    take(self->id(), ordinary_timeout_of(type), dropped);
  }

  void cancel_request_timeout(caf::abstract_actor* self, caf::message_id id) override {
    std::vector<entry_ptr> dropped;
    std::unique_lock<std::mutex> guard{mx_};
    take(
        self->id(),
        [&](const base::delayed_event& e) {
          return e.subtype == base::request_timeout_type &&
                 static_cast<const base::request_timeout&>(e).id == id;
        },
        dropped);
  }

  void cancel_timeouts(caf::abstract_actor* self) override {
    std::vector<entry_ptr> dropped;
    std::unique_lock<std::mutex> guard{mx_};
    auto range = actor_lookup_.equal_range(self->id());
    for (auto i = range.first; i != range.second; ++i) {
      dropped.push_back(std::move(i->second->second));
      schedule_.erase(i->second);
    }
    actor_lookup_.erase(range.first, range.second);
  }

  void cancel_all() override {
    schedule_map schedule;
    std::unique_lock<std::mutex> guard{mx_};
    actor_lookup_.clear();
    schedule.swap(schedule_);
    guard.unlock();
  }

  // -- the thread --------------------------------------------------------------

  void start(caf::actor_system& sys) {
    thread_ = std::thread{[this, &sys] {
      caf::detail::set_thread_name("myelin.clock");
      sys.thread_started();
      run();
      sys.thread_terminates();
    }};
  }

  /// Stops the thread and drops what is still scheduled; idempotent.
  void stop() {
    {
      std::unique_lock<std::mutex> guard{mx_};
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) {
      thread_.join();
    }
    cancel_all();
  }

 private:
  static constexpr time_point awake = time_point::min();
  static constexpr time_point never = time_point::max();

  void wake_if_before(time_point t) {
    if (t < wakes_at_) {
      wakes_at_ = awake;  // one notification is enough
      cv_.notify_one();
    }
  }

  /// Moves the first entry of actor `aid` that `pred` accepts out of both
  /// maps into `out` (call with the lock held).
  template <class Pred>
  void take(caf::actor_id aid, Pred pred, std::vector<entry_ptr>& out) {
    auto i = lookup(
        aid, [&](const actor_lookup_map::value_type& kvp) { return pred(*kvp.second->second); });
    if (i != actor_lookup_.end()) {
      out.push_back(std::move(i->second->second));
      schedule_.erase(i->second);
      actor_lookup_.erase(i);
    }
  }

  void run() {
    std::vector<entry_ptr> due;
    std::unique_lock<std::mutex> guard{mx_};
    while (!done_) {
      auto t = now();
      for (auto i = schedule_.begin(); i != schedule_.end() && i->first <= t;) {
        auto backlink = i->second->backlink;
        if (backlink != actor_lookup_.end()) {
          actor_lookup_.erase(backlink);
        }
        due.push_back(std::move(i->second));
        i = schedule_.erase(i);
      }
      if (!due.empty()) {
        // Shipped (and destroyed) without the lock, in due order.
        guard.unlock();
        for (auto& e : due) {
          ship(*e);
        }
        due.clear();
        guard.lock();
        continue;
      }
      wakes_at_ = schedule_.empty() ? never : schedule_.begin()->first;
      if (wakes_at_ == never) {
        cv_.wait(guard);
      } else {
        cv_.wait_until(guard, wakes_at_);
      }
      wakes_at_ = awake;
    }
  }

  std::mutex mx_;
  std::condition_variable cv_;
  /// When the thread wakes by itself; `awake` while it is not waiting.
  time_point wakes_at_ = awake;
  bool done_ = false;
  std::thread thread_;
};

template <class Policy>
class lazy_clock_coordinator final : public caf::scheduler::coordinator<Policy> {
 public:
  using super = caf::scheduler::coordinator<Policy>;

  explicit lazy_clock_coordinator(caf::actor_system& sys) : super(sys) {}

  caf::detail::thread_safe_actor_clock& clock() noexcept override { return clock_; }

 protected:
  void start() override {
    clock_.start(this->system());
    super::start();
  }

  void stop() override {
    super::stop();
    clock_.stop();
  }

 private:
  lazy_clock clock_;
};

}  // namespace

void use_lazy_clock_scheduler(caf::actor_system_config& cfg, const std::string& policy) {
  cfg.set("scheduler.policy", caf::atom_from_string(policy));
  bool sharing = policy == "sharing";
  cfg.module_factories.push_back([sharing](caf::actor_system& sys) -> caf::actor_system::module* {
    if (sharing) {
      return new lazy_clock_coordinator<caf::policy::work_sharing>(sys);
    }
    return new lazy_clock_coordinator<caf::policy::work_stealing>(sys);
  });
}

}  // namespace myelin::bootloader
