// OTP supervision trees on CAF 0.17: flags, child specs, start and management API.
//
// This header is the contract: every default, error and return value is written
// here, next to the declaration it belongs to. The semantics are OTP's
// `supervisor` (see docs/supervisors.md for the differences and an example tree).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/meta/type_name.hpp>

namespace myelin::supervisors {

// -- flags --------------------------------------------------------------------

/// How the supervisor reacts when a child terminates and must be restarted.
enum class strategy : uint8_t {
  /// Restart only the child that terminated. The default.
  one_for_one,
  /// Stop all other children in reverse start order, then restart all of them
  /// in start order.
  one_for_all,
  /// Stop the children started after the terminated one in reverse start order,
  /// then restart the terminated child and those in start order.
  rest_for_one,
  /// Exactly one child spec; children are started dynamically with
  /// `start_child(extra_args)` and stopped in parallel.
  simple_one_for_one,
};

/// When the supervisor shuts itself down because significant children exited.
enum class auto_shutdown : uint8_t {
  /// Never (the default). Significant children are then not allowed.
  never,
  /// As soon as any significant child exits by itself.
  any_significant,
  /// Once all significant children have exited by themselves.
  all_significant,
};

/// Optional restart back-off (beyond OTP, as Akka does): the n-th consecutive
/// restart of a child waits `min(max, min * 2^n) * (1 + jitter * r)` with r
/// uniform in [0, 1); n resets to 0 after `reset_after` without a restart.
struct backoff_spec {
  std::chrono::milliseconds min{100};
  std::chrono::milliseconds max{10'000};
  /// Relative random extra delay, in [0, 1].
  double jitter = 0.2;
  std::chrono::milliseconds reset_after{30'000};
};

/// Supervisor flags, with OTP's defaults.
struct supervisor_flags {
  /// Default: one_for_one.
  supervisors::strategy strategy = strategy::one_for_one;
  /// At most this many restarts within `period`; one more and the supervisor
  /// stops all children and exits with reason `user_shutdown` (OTP: shutdown).
  /// Default 1; must be >= 0.
  int intensity = 1;
  /// Default 5 s; must be > 0.
  std::chrono::milliseconds period{5'000};
  /// Default: never.
  supervisors::auto_shutdown auto_shutdown = auto_shutdown::never;
  /// No back-off unless set: restarts happen at once, as in OTP.
  std::optional<backoff_spec> backoff;
  /// Name used in reports and logs; empty means `supervisor#<actor id>`.
  std::string name;
};

// -- child specs --------------------------------------------------------------

/// When a terminated child is restarted. Every exit of a permanent child, and
/// every abnormal exit of the others, is reported (`child_terminated`).
enum class restart_type : uint8_t {
  /// Always. The default.
  permanent,
  /// Only when it exited abnormally (not normal, not user_shutdown).
  transient,
  /// Never; its spec is deleted when it exits.
  temporary,
};

/// What kind of child this is (for count_children and shutdown defaults).
enum class child_type : uint8_t { worker, supervisor };

/// How the supervisor stops a child. The stop ends as expected when the child
/// exits with `user_shutdown` (or `kill` under brutal_kill), or, for a
/// transient or temporary child, `normal`; any other reason is reported as a
/// `shutdown_error` (as is the reason of a child that had already died).
struct shutdown_spec {
  enum class kind : uint8_t {
    /// Killed at once with exit_reason::kill.
    brutal_kill,
    /// Sent exit_reason::user_shutdown, then killed after `timeout`.
    timeout,
    /// Sent exit_reason::user_shutdown and waited for, however long it takes.
    infinity,
  };
  kind how = kind::timeout;
  std::chrono::milliseconds timeout{5'000};

  static shutdown_spec brutal_kill() { return {kind::brutal_kill, {}}; }
  static shutdown_spec after(std::chrono::milliseconds t) { return {kind::timeout, t}; }
  static shutdown_spec infinity() { return {kind::infinity, {}}; }
};

/// Starts one child. Runs in the supervisor's context (or the caller's, during
/// `start_supervisor`) and must not block: spawn the actor and return its handle.
/// `extra_args` is empty except for simple_one_for_one children, where it holds
/// the arguments given to `start_child`.
///
/// Returns:
///  - a valid handle: the running child (the supervisor monitors it and holds
///    half a link to it: the child dies when the supervisor dies);
///  - an invalid handle (`caf::actor{}`): "ignore" — the spec is kept, no child
///    runs (which_children shows it as `undefined`);
///  - an error: the start failed.
using start_fn =
    std::function<caf::expected<caf::actor>(caf::actor_system&, const caf::message& extra_args)>;

/// A child specification, with OTP's defaults.
struct child_spec {
  /// Required, unique within the supervisor.
  std::string id;
  /// Required.
  start_fn start;
  /// Default: permanent.
  restart_type restart = restart_type::permanent;
  /// Default: 5000 ms for workers, infinity for supervisors.
  std::optional<shutdown_spec> shutdown;
  /// Default: worker.
  child_type type = child_type::worker;
  /// Default: false. Only transient and temporary children may be significant,
  /// and only when the supervisor's auto_shutdown is not `never`.
  bool significant = false;
};

/// A worker spec with OTP's defaults.
child_spec worker(std::string id, start_fn start);

/// A supervisor-child spec with OTP's defaults (shutdown infinity).
child_spec supervisor(std::string id, start_fn start);

/// Returns the shutdown the supervisor uses for `spec` (its own, or the default
/// for its type).
shutdown_spec effective_shutdown(const child_spec& spec);

// -- errors -------------------------------------------------------------------

/// Errors of this library. Rendered by `to_string`; every error also carries a
/// human-readable context string naming the child or flag concerned.
enum class supervisor_errc : uint8_t {
  /// Flags: intensity < 0.
  invalid_intensity = 1,
  /// Flags: period <= 0.
  invalid_period,
  /// Flags: simple_one_for_one with other than exactly one child spec.
  invalid_simple_one_for_one,
  /// Spec: empty id.
  missing_id,
  /// Spec: no start function.
  missing_start,
  /// Spec: id used twice.
  duplicate_child_id,
  /// Spec: negative shutdown timeout.
  invalid_shutdown,
  /// Spec: significant and permanent, or significant under auto_shutdown never.
  invalid_significant,
  /// start_supervisor: a child failed to start during init; context names it.
  failed_to_start_child,
  /// start_child with a spec whose id exists and whose child runs.
  already_started,
  /// start_child with a spec whose id exists and whose child is stopped.
  already_present,
  /// terminate/restart/delete/get_childspec: no child with that id.
  not_found,
  /// restart_child / delete_child on a running child.
  running,
  /// restart_child / delete_child on a child waiting for its restart.
  restarting,
  /// Operation not available under simple_one_for_one (or only there).
  simple_one_for_one,
  /// A start function failed (restart attempts, start_child, restart_child).
  start_failed,
  /// The supervisor exceeded its restart intensity.
  reached_max_restart_intensity,
  /// Flags: back-off with min <= 0, max < min, jitter outside [0, 1] or
  /// reset_after <= 0.
  invalid_backoff,
};

std::string to_string(supervisor_errc x);

caf::error make_error(supervisor_errc x);
caf::error make_error(supervisor_errc x, std::string context);

/// Registers this library's error category so that `actor_system::render`
/// prints readable errors. Call before creating the actor system.
void add_error_category(caf::actor_system_config& cfg);

// -- starting -----------------------------------------------------------------

/// Checks flags and specs without starting anything (OTP: check_childspecs).
/// Returns an empty error when all are valid, else the first problem found,
/// checked in this order: invalid_intensity, invalid_period, invalid_backoff,
/// invalid_simple_one_for_one, then per spec in order: missing_id,
/// missing_start, invalid_shutdown, invalid_significant, duplicate_child_id.
caf::error check_childspecs(const supervisor_flags& flags, const std::vector<child_spec>& specs);

/// Checks one spec as `start_child` does (the per-spec part of
/// check_childspecs; duplicates are not checked here).
caf::error check_childspec(const supervisor_flags& flags, const child_spec& spec);

/// Starts a supervisor (OTP: start_link + init). Validates flags and specs,
/// starts the children in order and returns the supervisor once all are
/// running. Must not block: usable from inside a start function, so
/// supervisors nest.
///
/// Errors: the validation errors above; failed_to_start_child, whose context
/// names the child and renders its error (the children already started are
/// stopped in reverse order, honouring their shutdown specs, by the
/// supervisor actor, which then exits with that error; this function does
/// not wait for it). A child that returns "ignore" is kept as a stopped spec,
/// unless it is temporary (then its spec is dropped, as in OTP).
///
/// The start functions of the initial children run in the caller's context,
/// one after the other, in the order given. The caller must keep the returned
/// handle: as every CAF actor, a supervisor nobody holds a handle to dies with
/// `unreachable` (its children then receive that exit reason).
caf::expected<caf::actor> start_supervisor(caf::actor_system& sys, supervisor_flags flags,
                                           std::vector<child_spec> specs);

// -- management API -----------------------------------------------------------

/// The state of a child as which_children reports it.
enum class child_status : uint8_t { running, restarting, undefined };

/// One row of which_children. `handle` is valid only when running. The id of
/// a simple_one_for_one child is empty (OTP: undefined).
struct child_info {
  std::string id;
  caf::actor handle;
  child_status status = child_status::undefined;
  child_type type = child_type::worker;
  /// How often this child was started again after its first start (restarts
  /// after exits, group restarts, restart_child), beyond OTP's which_children.
  uint32_t restarts = 0;
  /// Since when the current incarnation runs, in ms by the actor clock; 0
  /// when it does not run.
  int64_t uptime_ms = 0;
};

/// OTP's count_children. For simple_one_for_one, `specs` is 1 and
/// `supervisors`/`workers` count the dynamic children (running or restarting).
/// Otherwise `specs` counts all specs, `active` the running children, and
/// `supervisors`/`workers` the specs of each type, running or not.
struct child_counts {
  size_t specs = 0;
  size_t active = 0;
  size_t supervisors = 0;
  size_t workers = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_info& x) {
  return f(caf::meta::type_name("child_info"), x.id, x.handle, x.status, x.type, x.restarts,
           x.uptime_ms);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_counts& x) {
  return f(caf::meta::type_name("child_counts"), x.specs, x.active, x.supervisors, x.workers);
}

// Message interface (for actors; reply as documented):
//   (which_children_atom)               -> std::vector<child_info>, in start order
//                                          (OTP lists the newest first)
//   (count_children_atom)               -> child_counts
//   (start_child_atom, child_spec)      -> caf::actor (invalid if ignored)
//                                          | validation error | already_started
//                                          | already_present | start_failed
//                                          | simple_one_for_one
//   (start_child_atom, caf::message)    -> caf::actor (invalid if ignored)
//                                          | start_failed | simple_one_for_one
//                                          (only under simple_one_for_one)
//   (terminate_child_atom, std::string) -> unit | not_found | simple_one_for_one
//   (terminate_child_atom, caf::actor)  -> unit | not_found (any strategy)
//   (restart_child_atom, std::string)   -> caf::actor (invalid if ignored) | running
//                                          | restarting | not_found | start_failed
//                                          | simple_one_for_one
//   (delete_child_atom, std::string)    -> unit | running | restarting | not_found
//                                          | simple_one_for_one
//   (get_childspec_atom, std::string)   -> child_spec | not_found
//   (get_childspec_atom, caf::actor)    -> child_spec | not_found
// Requests that arrive while the supervisor is stopping children (a
// terminate_child, a group restart, its own shutdown) are answered in arrival
// order once that is done; requests still queued when it exits get
// caf::sec::request_receiver_down. terminate_child of a restarting child
// cancels the restart. Under simple_one_for_one, get_childspec(id) answers the
// template spec when `id` is its id, and terminate_child / get_childspec by
// handle also find a child waiting for its restart by its last handle (OTP:
// {restarting, Pid}).
using which_children_atom = caf::atom_constant<caf::atom("whichchld")>;
using count_children_atom = caf::atom_constant<caf::atom("countchld")>;
using start_child_atom = caf::atom_constant<caf::atom("startchld")>;
using terminate_child_atom = caf::atom_constant<caf::atom("termchld")>;
using restart_child_atom = caf::atom_constant<caf::atom("restchld")>;
using delete_child_atom = caf::atom_constant<caf::atom("delchld")>;
using get_childspec_atom = caf::atom_constant<caf::atom("getspec")>;

// Blocking helpers for code outside actors (main, tests, command-line tools).
// Never call them from inside an actor: use the messages above with `.then`.
// Each waits at most `timeout` and returns caf::sec::request_timeout after it.

caf::expected<std::vector<child_info>> which_children(caf::actor_system& sys, const caf::actor& sup,
                                                      std::chrono::milliseconds timeout);
caf::expected<child_counts> count_children(caf::actor_system& sys, const caf::actor& sup,
                                           std::chrono::milliseconds timeout);
caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      child_spec spec, std::chrono::milliseconds timeout);
caf::expected<caf::actor> start_child(caf::actor_system& sys, const caf::actor& sup,
                                      caf::message extra_args, std::chrono::milliseconds timeout);
/// Returns an empty error on success.
caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                           std::chrono::milliseconds timeout);
/// Returns an empty error on success.
caf::error terminate_child(caf::actor_system& sys, const caf::actor& sup, const caf::actor& child,
                           std::chrono::milliseconds timeout);
caf::expected<caf::actor> restart_child(caf::actor_system& sys, const caf::actor& sup,
                                        const std::string& id, std::chrono::milliseconds timeout);
/// Returns an empty error on success.
caf::error delete_child(caf::actor_system& sys, const caf::actor& sup, const std::string& id,
                        std::chrono::milliseconds timeout);
caf::expected<child_spec> get_childspec(caf::actor_system& sys, const caf::actor& sup,
                                        const std::string& id, std::chrono::milliseconds timeout);

}  // namespace myelin::supervisors

// child_spec holds a std::function: it travels in local messages only.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::supervisors::child_spec)
