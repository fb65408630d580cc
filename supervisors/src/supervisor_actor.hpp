// The supervisor actor: restarts, shutdown and the management protocol.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_control_block.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/send.hpp>

#include "myelin/supervisors/restart_window.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace myelin::supervisors::detail {

/// Where a child is in its life, as the supervisor sees it.
enum class child_state : uint8_t {
  /// Has a live handle.
  running,
  /// The supervisor has sent it an exit and waits for its down message.
  terminating,
  /// No process (OTP: undefined): ignored, terminated or not restarted.
  stopped,
  /// Waiting for a restart (back-off) or for a retry of a failed restart.
  restarting,
};

/// One child, static or dynamic.
struct child {
  /// Start order: children are kept in a map ordered by key.
  uint64_t key = 0;
  std::shared_ptr<const child_spec> spec;
  /// Extra start arguments (simple_one_for_one only).
  caf::message args;
  caf::actor handle;
  /// Dynamic children only: the address of the last handle, by which
  /// terminate_child and get_childspec still find the child while it waits for
  /// its restart (OTP keeps it as {restarting, Pid}).
  caf::actor_addr last_addr;
  child_state state = child_state::stopped;
  /// A down message arrived while the supervisor was busy; its handling is
  /// queued (or consumed by a stop that reaches this child first).
  bool dead = false;
  caf::error exit_reason;
  /// Identifies the pending restart timer or retry; bumped to cancel it.
  uint64_t restart_gen = 0;
  /// Back-off: consecutive restarts and the time of the last one.
  uint32_t backoff_n = 0;
  restart_window::time_point last_restart{};
  /// Starts after the first (which_children's `restarts`), and when the
  /// current incarnation started; set whenever a new handle is watched.
  uint32_t restarts = 0;
  bool started_once = false;
  restart_window::time_point started{};
};

/// What start_supervisor hands to the actor: the children it started.
struct init_state {
  std::vector<child> children;
  /// A child failed to start: stop the others in reverse order, then exit
  /// with this error.
  caf::error failure;
};

using init_atom = caf::atom_constant<caf::atom("supinit")>;
using shutdown_timeout_atom = caf::atom_constant<caf::atom("suptmo")>;
using try_again_atom = caf::atom_constant<caf::atom("suptry")>;
using backoff_done_atom = caf::atom_constant<caf::atom("supbackoff")>;

/// The actor behind start_supervisor. See supervisor.hpp for its protocol.
class supervisor_actor : public caf::event_based_actor {
 public:
  // -- constructors -----------------------------------------------------------

  supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                   std::shared_ptr<const child_spec> dynamic_template);

  // -- overrides --------------------------------------------------------------

  caf::behavior make_behavior() override;

  const char* name() const override;

  void on_exit() override;

 private:
  using child_map = std::map<uint64_t, child>;
  using child_iter = child_map::iterator;

  /// Work deferred while the supervisor is busy stopping children.
  struct pending_item {
    std::function<void(caf::response_promise&)> run;
    caf::response_promise rp;
  };

  /// Stopping a set of children, one after the other or all at once.
  struct stop_job {
    uint64_t seq = 0;
    std::vector<uint64_t> keys;
    size_t next = 0;
    bool parallel = false;
    size_t outstanding = 0;
    std::function<void()> done;
  };

  // -- event entry points -----------------------------------------------------

  void adopt(init_state& st);
  void on_down(caf::down_msg& msg);
  void on_exit_msg(caf::exit_msg& msg);
  void on_shutdown_timeout(uint64_t seq, uint64_t key);
  void on_try_again(uint64_t key, uint64_t gen);
  void on_backoff_done(uint64_t key, uint64_t gen);
  /// A message to ourselves after `delay`, sent anonymously: with us as its
  /// sender, a timer firing while we terminate could stay in our closed
  /// mailbox and keep us alive for good (a cycle CAF 0.17 never breaks).
  template <class Rep, class Period, class... Ts>
  void timer(std::chrono::duration<Rep, Period> delay, Ts&&... xs) {
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(this), delay, std::forward<Ts>(xs)...);
  }

  /// Runs `fn` now, or after the current stop job when busy.
  void submit(std::function<void(caf::response_promise&)> fn, caf::response_promise rp = {});
  void drain();

  // -- children ---------------------------------------------------------------

  bool dynamic() const noexcept;
  child_iter insert_child(child c);
  void erase_child(child_iter i);
  void watch(child& c);
  void consume(child& c);
  /// Consumes the exit of a child that died by itself while the supervisor was
  /// busy, reporting it as a shutdown_error unless its reason is expected.
  void consume_dead(child& c);
  caf::expected<caf::actor> call_start(const child& c);
  /// Starts `c` (stopped or restarting). Returns the start error, if any.
  caf::error start_one(child_iter i);

  // -- restarts ---------------------------------------------------------------

  void handle_child_exit(child_iter i, caf::error reason);
  void do_restart(child_iter i);
  void execute_restart(child_iter i);
  void start_group(std::vector<uint64_t> keys);
  void schedule_try_again(child& c);
  void significant_exited();

  // -- stopping ---------------------------------------------------------------

  void stop_children(std::vector<uint64_t> keys, bool parallel, std::function<void()> done);
  void step_job();
  void begin_stop(child& c, bool with_timer);
  void finish_job();
  void shutdown(caf::error reason);
  std::vector<uint64_t> keys_reverse() const;

  // -- management -------------------------------------------------------------

  std::vector<child_info> which_children() const;
  child_counts count_children() const;
  void start_child(child_spec& spec, caf::response_promise& rp);
  void start_dynamic_child(caf::message& args, caf::response_promise& rp);
  void terminate_child(child_iter i, caf::response_promise& rp);
  void restart_child(const std::string& id, caf::response_promise& rp);
  void delete_child(const std::string& id, caf::response_promise& rp);
  /// The stopped static child `id` for restart_child / delete_child (`op`),
  /// or children_.end() after delivering OTP's error for that call to `rp`.
  child_iter find_stopped_child(const char* op, const std::string& id, caf::response_promise& rp);

  // -- helpers ----------------------------------------------------------------

  child_iter find_id(const std::string& id);
  child_iter find_addr(const caf::actor_addr& addr);
  /// find_addr, or under simple_one_for_one a restarting child by its old address.
  child_iter find_handle(const caf::actor_addr& addr);
  static bool is_abnormal(const caf::error& reason);
  /// Whether `reason` is an expected end of a stop of a child with `spec`.
  static bool expected_stop_reason(const child_spec& spec, const caf::error& reason);
  void report(int context, const caf::error& reason, const child* offender);

  // -- member variables -------------------------------------------------------

  supervisor_flags flags_;
  std::string name_;
  std::shared_ptr<const child_spec> template_;
  child_map children_;
  std::unordered_map<std::string, uint64_t> by_id_;
  std::unordered_map<caf::actor_addr, uint64_t> by_addr_;
  uint64_t next_key_ = 1;
  restart_window window_;
  std::optional<stop_job> job_;
  uint64_t job_seq_ = 0;
  std::deque<pending_item> pending_;
  bool draining_ = false;
  bool shutting_down_ = false;
  /// Keeps this actor alive while it stops its children on its way out.
  caf::strong_actor_ptr self_ref_;
  std::mt19937_64 rng_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace myelin::supervisors::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::shared_ptr<myelin::supervisors::detail::init_state>)
