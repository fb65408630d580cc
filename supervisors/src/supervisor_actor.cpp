// The supervisor actor: OTP's supervisor state machine on a CAF event-based actor.
#include "supervisor_actor.hpp"

#include <algorithm>
#include <cmath>
#include <exception>
#include <utility>

#include <caf/default_attachable.hpp>
#include <caf/exit_reason.hpp>
#include <caf/sec.hpp>

#include "report.hpp"

namespace myelin::supervisors::detail {

namespace {

restart_window::time_point now_of(caf::actor_clock& clock) {
  // The actor clock is steady_clock in production and simulated under the
  // test coordinator, so intensity and back-off follow simulated time there.
  return clock.now();
}

}  // namespace

// -- constructors -------------------------------------------------------------

supervisor_actor::supervisor_actor(caf::actor_config& cfg, supervisor_flags flags,
                                   std::shared_ptr<const child_spec> dynamic_template)
    : caf::event_based_actor(cfg),
      flags_(std::move(flags)),
      template_(std::move(dynamic_template)),
      window_(flags_.intensity, flags_.period),
      rng_(std::random_device{}()),
      log_(report_logger()) {
  name_ = flags_.name.empty() ? "supervisor#" + std::to_string(id()) : flags_.name;
}

// -- overrides ----------------------------------------------------------------

const char* supervisor_actor::name() const {
  return "myelin.supervisor";
}

void supervisor_actor::on_exit() {
  for (auto& item : pending_) {
    if (item.rp.pending()) {
      item.rp.deliver(caf::make_error(caf::sec::request_receiver_down));
    }
  }
  pending_.clear();
  job_.reset();
  children_.clear();
  by_addr_.clear();
  self_ref_.reset();
}

caf::behavior supervisor_actor::make_behavior() {
  set_down_handler([this](caf::down_msg& msg) { on_down(msg); });
  set_exit_handler([this](caf::exit_msg& msg) { on_exit_msg(msg); });
  auto defer = [this](auto fn) {
    auto rp = make_response_promise();
    submit(std::move(fn), rp);
    return rp;
  };
  return {
      [this](init_atom, std::shared_ptr<init_state>& st) { adopt(*st); },
      [this](shutdown_timeout_atom, uint64_t seq, uint64_t key) { on_shutdown_timeout(seq, key); },
      [this](try_again_atom, uint64_t key, uint64_t gen) { on_try_again(key, gen); },
      [this](backoff_done_atom, uint64_t key, uint64_t gen) { on_backoff_done(key, gen); },
      [this, defer](which_children_atom) {
        return defer([this](caf::response_promise& rp) { rp.deliver(which_children()); });
      },
      [this, defer](count_children_atom) {
        return defer([this](caf::response_promise& rp) { rp.deliver(count_children()); });
      },
      [this, defer](start_child_atom, child_spec& spec) {
        return defer([this, spec = std::move(spec)](caf::response_promise& rp) mutable {
          start_child(spec, rp);
        });
      },
      [this, defer](start_child_atom, caf::message& args) {
        return defer([this, args = std::move(args)](caf::response_promise& rp) mutable {
          start_dynamic_child(args, rp);
        });
      },
      [this, defer](terminate_child_atom, std::string& id) {
        return defer([this, id = std::move(id)](caf::response_promise& rp) {
          if (dynamic()) {
            rp.deliver(make_error(supervisor_errc::simple_one_for_one,
                                  "terminate_child by id under simple_one_for_one"));
            return;
          }
          auto i = find_id(id);
          if (i == children_.end()) {
            rp.deliver(make_error(supervisor_errc::not_found, "child '" + id + "'"));
            return;
          }
          terminate_child(i, rp);
        });
      },
      [this, defer](terminate_child_atom, caf::actor& handle) {
        return defer([this, handle = std::move(handle)](caf::response_promise& rp) {
          auto i = find_handle(handle.address());
          if (i == children_.end()) {
            rp.deliver(make_error(supervisor_errc::not_found,
                                  "no child with handle " + std::to_string(handle.id())));
            return;
          }
          terminate_child(i, rp);
        });
      },
      [this, defer](restart_child_atom, std::string& id) {
        return defer(
            [this, id = std::move(id)](caf::response_promise& rp) { restart_child(id, rp); });
      },
      [this, defer](delete_child_atom, std::string& id) {
        return defer(
            [this, id = std::move(id)](caf::response_promise& rp) { delete_child(id, rp); });
      },
      [this, defer](get_childspec_atom, std::string& id) {
        return defer([this, id = std::move(id)](caf::response_promise& rp) {
          if (dynamic()) {
            if (template_->id == id) {
              rp.deliver(*template_);
            } else {
              rp.deliver(make_error(supervisor_errc::not_found, "child '" + id + "'"));
            }
            return;
          }
          auto i = find_id(id);
          if (i == children_.end()) {
            rp.deliver(make_error(supervisor_errc::not_found, "child '" + id + "'"));
            return;
          }
          rp.deliver(*i->second.spec);
        });
      },
      [this, defer](get_childspec_atom, caf::actor& handle) {
        return defer([this, handle = std::move(handle)](caf::response_promise& rp) {
          auto i = find_handle(handle.address());
          if (i == children_.end()) {
            rp.deliver(make_error(supervisor_errc::not_found,
                                  "no child with handle " + std::to_string(handle.id())));
            return;
          }
          rp.deliver(*i->second.spec);
        });
      },
  };
}

// -- event entry points -------------------------------------------------------

void supervisor_actor::adopt(init_state& st) {
  for (auto& c : st.children) {
    auto i = insert_child(std::move(c));
    if (i->second.state == child_state::running) {
      watch(i->second);
    }
  }
  if (st.failure) {
    shutdown(std::move(st.failure));
  }
}

void supervisor_actor::on_down(caf::down_msg& msg) {
  auto i = find_addr(msg.source);
  if (i == children_.end()) {
    return;
  }
  auto& c = i->second;
  if (c.state == child_state::terminating) {
    if (!expected_stop_reason(*c.spec, msg.reason)) {
      report(static_cast<int>(report_context::shutdown_error), msg.reason, &c);
    }
    consume(c);
    if (job_ && job_->parallel) {
      if (--job_->outstanding == 0) {
        finish_job();
      }
    } else {
      step_job();
    }
    return;
  }
  if (c.dead) {
    return;
  }
  if (job_ || draining_) {
    // OTP handles this EXIT after the blocking operation; so do we. A stop
    // that reaches this child first consumes the exit instead.
    c.dead = true;
    c.exit_reason = msg.reason;
    auto addr = msg.source;
    submit([this, addr](caf::response_promise&) {
      auto j = find_addr(addr);
      if (j != children_.end() && j->second.dead) {
        auto reason = j->second.exit_reason;
        handle_child_exit(j, std::move(reason));
      }
    });
    return;
  }
  handle_child_exit(i, std::move(msg.reason));
}

void supervisor_actor::on_exit_msg(caf::exit_msg& msg) {
  if (msg.source && by_addr_.count(msg.source) > 0) {
    // A child that linked itself to us: its down message does the work.
    return;
  }
  if (shutting_down_) {
    return;
  }
  auto reason = std::move(msg.reason);
  submit([this, reason](caf::response_promise&) { shutdown(reason); });
}

void supervisor_actor::on_shutdown_timeout(uint64_t seq, uint64_t key) {
  if (!job_ || job_->seq != seq) {
    return;
  }
  if (job_->parallel) {
    for (auto k : job_->keys) {
      auto i = children_.find(k);
      if (i != children_.end() && i->second.state == child_state::terminating) {
        send_exit(i->second.handle, caf::exit_reason::kill);
      }
    }
    return;
  }
  auto i = children_.find(key);
  if (i != children_.end() && i->second.state == child_state::terminating) {
    send_exit(i->second.handle, caf::exit_reason::kill);
  }
}

void supervisor_actor::on_try_again(uint64_t key, uint64_t gen) {
  submit([this, key, gen](caf::response_promise&) {
    auto i = children_.find(key);
    if (i != children_.end() && i->second.state == child_state::restarting &&
        i->second.restart_gen == gen) {
      do_restart(i);
    }
  });
}

void supervisor_actor::on_backoff_done(uint64_t key, uint64_t gen) {
  submit([this, key, gen](caf::response_promise&) {
    auto i = children_.find(key);
    if (i != children_.end() && i->second.state == child_state::restarting &&
        i->second.restart_gen == gen) {
      execute_restart(i);
    }
  });
}

void supervisor_actor::submit(std::function<void(caf::response_promise&)> fn,
                              caf::response_promise rp) {
  if (job_ || draining_ || shutting_down_) {
    if (shutting_down_ && !job_) {
      // Already gone in all but name: answer at once.
      if (rp.pending()) {
        rp.deliver(caf::make_error(caf::sec::request_receiver_down));
      }
      return;
    }
    pending_.push_back(pending_item{std::move(fn), std::move(rp)});
    return;
  }
  fn(rp);
}

void supervisor_actor::drain() {
  if (draining_) {
    return;
  }
  draining_ = true;
  while (!job_ && !shutting_down_ && !pending_.empty()) {
    auto item = std::move(pending_.front());
    pending_.pop_front();
    draining_ = false;
    item.run(item.rp);
    draining_ = true;
  }
  draining_ = false;
}

// -- children -----------------------------------------------------------------

bool supervisor_actor::dynamic() const noexcept {
  return flags_.strategy == strategy::simple_one_for_one;
}

supervisor_actor::child_iter supervisor_actor::insert_child(child c) {
  c.key = next_key_++;
  auto key = c.key;
  auto [i, added] = children_.emplace(key, std::move(c));
  static_cast<void>(added);
  if (!dynamic()) {
    by_id_[i->second.spec->id] = key;
  }
  return i;
}

void supervisor_actor::erase_child(child_iter i) {
  if (i->second.handle) {
    by_addr_.erase(i->second.handle.address());
  }
  if (!dynamic()) {
    by_id_.erase(i->second.spec->id);
  }
  children_.erase(i);
}

void supervisor_actor::watch(child& c) {
  if (c.started_once) {
    ++c.restarts;
  }
  c.started_once = true;
  c.started = now_of(clock());
  by_addr_[c.handle.address()] = c.key;
  monitor(c.handle);
  // Half a link: the child gets our exit reason when we die, but its exit
  // (even `kill`, which CAF 0.17 propagates through links unconditionally)
  // reaches us only as a down message.
  attach(caf::default_attachable::make_link(address(), c.handle.address()));
}

void supervisor_actor::consume(child& c) {
  if (c.handle) {
    if (dynamic()) {
      c.last_addr = c.handle.address();
    }
    by_addr_.erase(c.handle.address());
    if (!shutting_down_) {
      // Drops the half link; skipped on the way out, where it is moot.
      detach(caf::default_attachable::observe_token{c.handle.address(),
                                                    caf::default_attachable::link});
    }
    c.handle = nullptr;
  }
  c.dead = false;
  c.exit_reason = caf::error{};
  c.state = child_state::stopped;
}

void supervisor_actor::consume_dead(child& c) {
  // OTP's shutdown picks up the pending EXIT (unlink_flush) and judges its
  // reason as if the child had exited on the supervisor's request.
  if (!expected_stop_reason(*c.spec, c.exit_reason)) {
    report(static_cast<int>(report_context::shutdown_error), c.exit_reason, &c);
  }
  consume(c);
}

caf::expected<caf::actor> supervisor_actor::call_start(const child& c) {
  try {
    return c.spec->start(system(), c.args);
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error, std::string{"start threw: "} + e.what());
  } catch (...) {
    return caf::make_error(caf::sec::runtime_error, "start threw");
  }
}

caf::error supervisor_actor::start_one(child_iter i) {
  auto& c = i->second;
  auto res = call_start(c);
  if (!res) {
    report(static_cast<int>(report_context::start_error), res.error(), &c);
    return std::move(res.error());
  }
  if (!*res) {
    c.state = child_state::stopped;
    return caf::none;
  }
  c.handle = std::move(*res);
  c.state = child_state::running;
  watch(c);
  return caf::none;
}

// -- restarts -----------------------------------------------------------------

bool supervisor_actor::is_abnormal(const caf::error& reason) {
  return reason != caf::exit_reason::normal && reason != caf::exit_reason::user_shutdown;
}

bool supervisor_actor::expected_stop_reason(const child_spec& spec, const caf::error& reason) {
  // OTP's shutdown/1: `shutdown` (or `killed` under brutal_kill) is expected;
  // a non-permanent child may also have exited `normal` or `shutdown` by itself.
  bool permanent = spec.restart == restart_type::permanent;
  if (effective_shutdown(spec).how == shutdown_spec::kind::brutal_kill) {
    return reason == caf::exit_reason::kill || (!permanent && !is_abnormal(reason));
  }
  return reason == caf::exit_reason::user_shutdown ||
         (!permanent && reason == caf::exit_reason::normal);
}

void supervisor_actor::handle_child_exit(child_iter i, caf::error reason) {
  auto& c = i->second;
  bool abnormal = is_abnormal(reason);
  // OTP reports every exit of a permanent child, and the abnormal ones of the others.
  if (abnormal || c.spec->restart == restart_type::permanent) {
    report(static_cast<int>(report_context::child_terminated), reason, &c);
  }
  consume(c);
  switch (c.spec->restart) {
    case restart_type::permanent:
      do_restart(i);
      return;
    case restart_type::transient:
      if (abnormal) {
        do_restart(i);
        return;
      }
      break;
    case restart_type::temporary:
      break;
  }
  bool significant = c.spec->significant;
  if (dynamic() || c.spec->restart == restart_type::temporary) {
    erase_child(i);
  }
  if (significant) {
    significant_exited();
  }
}

void supervisor_actor::significant_exited() {
  switch (flags_.auto_shutdown) {
    case auto_shutdown::never:
      return;
    case auto_shutdown::any_significant:
      shutdown(caf::exit_reason::user_shutdown);
      return;
    case auto_shutdown::all_significant:
      for (auto& [key, c] : children_) {
        if (c.spec->significant && c.state != child_state::stopped) {
          return;
        }
      }
      shutdown(caf::exit_reason::user_shutdown);
      return;
  }
}

void supervisor_actor::do_restart(child_iter i) {
  auto& c = i->second;
  auto now = now_of(clock());
  if (!window_.add(now)) {
    report(static_cast<int>(report_context::shutdown),
           make_error(supervisor_errc::reached_max_restart_intensity,
                      "more than " + std::to_string(flags_.intensity) + " restarts in " +
                          std::to_string(flags_.period.count()) + "ms"),
           &c);  // OTP names the child whose exit exceeded the intensity
    shutdown(caf::exit_reason::user_shutdown);
    return;
  }
  if (flags_.backoff) {
    const auto& b = *flags_.backoff;
    if (c.backoff_n > 0 && now - c.last_restart >= b.reset_after) {
      c.backoff_n = 0;
    }
    auto factor = std::ldexp(1.0, static_cast<int>(std::min<uint32_t>(c.backoff_n, 62)));
    auto base =
        std::min(static_cast<double>(b.max.count()), static_cast<double>(b.min.count()) * factor);
    std::uniform_real_distribution<double> uniform{0.0, 1.0};
    auto delay_ms = base * (1.0 + b.jitter * uniform(rng_));
    ++c.backoff_n;
    c.last_restart = now;
    c.state = child_state::restarting;
    auto gen = ++c.restart_gen;
    auto delay = std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double, std::milli>(delay_ms));
    timer(delay, backoff_done_atom::value, c.key, gen);
    return;
  }
  execute_restart(i);
}

void supervisor_actor::execute_restart(child_iter i) {
  auto& c = i->second;
  switch (flags_.strategy) {
    case strategy::one_for_one:
    case strategy::simple_one_for_one: {
      if (auto err = start_one(i)) {
        schedule_try_again(c);
        return;
      }
      if (c.state == child_state::stopped && dynamic()) {
        erase_child(i);  // "ignore" on restart: OTP forgets a dynamic child
      }
      return;
    }
    case strategy::one_for_all:
    case strategy::rest_for_one: {
      // The failed child waits as `restarting` while the others stop.
      c.state = child_state::restarting;
      ++c.restart_gen;
      std::vector<uint64_t> group;
      auto first = flags_.strategy == strategy::one_for_all ? children_.begin() : i;
      for (auto j = first; j != children_.end(); ++j) {
        group.push_back(j->first);
      }
      std::vector<uint64_t> stop_order(group.rbegin(), group.rend());
      stop_children(std::move(stop_order), false,
                    [this, group = std::move(group)]() mutable { start_group(std::move(group)); });
      return;
    }
  }
}

void supervisor_actor::start_group(std::vector<uint64_t> keys) {
  // Temporary bystanders are not restarted: their specs go.
  std::vector<uint64_t> to_start;
  for (auto key : keys) {
    auto i = children_.find(key);
    if (i == children_.end()) {
      continue;
    }
    if (i->second.spec->restart == restart_type::temporary &&
        i->second.state != child_state::restarting) {
      erase_child(i);
      continue;
    }
    // As OTP's terminate_children, every member is now undefined: the child
    // whose exit caused the restart, and any member waiting for a restart of
    // its own (whose pending retry or back-off is cancelled). Only the member
    // that fails to start below becomes `restarting` again.
    if (i->second.state == child_state::restarting) {
      i->second.state = child_state::stopped;
      ++i->second.restart_gen;
    }
    to_start.push_back(key);
  }
  for (auto key : to_start) {
    auto i = children_.find(key);
    if (i == children_.end()) {
      continue;
    }
    if (auto err = start_one(i)) {
      // OTP: the rest stay stopped; the retry restarts the group again.
      schedule_try_again(i->second);
      return;
    }
  }
}

void supervisor_actor::schedule_try_again(child& c) {
  c.state = child_state::restarting;
  auto gen = ++c.restart_gen;
  // A message to ourselves, as OTP does: other requests get in between.
  send(this, try_again_atom::value, c.key, gen);
}

// -- stopping -----------------------------------------------------------------

void supervisor_actor::stop_children(std::vector<uint64_t> keys, bool parallel,
                                     std::function<void()> done) {
  job_.emplace();
  job_->seq = ++job_seq_;
  job_->keys = std::move(keys);
  job_->parallel = parallel;
  job_->done = std::move(done);
  if (!parallel) {
    step_job();
    return;
  }
  std::optional<shutdown_spec> timed;
  for (auto key : job_->keys) {
    auto i = children_.find(key);
    if (i == children_.end()) {
      continue;
    }
    auto& c = i->second;
    if (c.state == child_state::restarting) {
      c.state = child_state::stopped;
      ++c.restart_gen;
      continue;
    }
    if (c.state != child_state::running) {
      continue;
    }
    if (c.dead) {
      consume_dead(c);
      continue;
    }
    begin_stop(c, false);
    ++job_->outstanding;
    auto sd = effective_shutdown(*c.spec);
    if (sd.how == shutdown_spec::kind::timeout) {
      timed = sd;
    }
  }
  if (job_->outstanding == 0) {
    finish_job();
    return;
  }
  if (timed) {
    timer(timed->timeout, shutdown_timeout_atom::value, job_->seq, uint64_t{0});
  }
}

void supervisor_actor::step_job() {
  while (job_ && job_->next < job_->keys.size()) {
    auto key = job_->keys[job_->next++];
    auto i = children_.find(key);
    if (i == children_.end()) {
      continue;
    }
    auto& c = i->second;
    if (c.state != child_state::running) {
      continue;
    }
    if (c.dead) {
      consume_dead(c);
      continue;
    }
    begin_stop(c, true);
    return;
  }
  if (job_) {
    finish_job();
  }
}

void supervisor_actor::begin_stop(child& c, bool with_timer) {
  c.state = child_state::terminating;
  auto sd = effective_shutdown(*c.spec);
  switch (sd.how) {
    case shutdown_spec::kind::brutal_kill:
      send_exit(c.handle, caf::exit_reason::kill);
      return;
    case shutdown_spec::kind::timeout:
      send_exit(c.handle, caf::exit_reason::user_shutdown);
      if (with_timer) {
        timer(sd.timeout, shutdown_timeout_atom::value, job_->seq, c.key);
      }
      return;
    case shutdown_spec::kind::infinity:
      send_exit(c.handle, caf::exit_reason::user_shutdown);
      return;
  }
}

void supervisor_actor::finish_job() {
  auto done = std::move(job_->done);
  job_.reset();
  if (done) {
    done();
  }
  if (!job_ && !shutting_down_) {
    drain();
  }
}

std::vector<uint64_t> supervisor_actor::keys_reverse() const {
  std::vector<uint64_t> keys;
  keys.reserve(children_.size());
  for (auto i = children_.rbegin(); i != children_.rend(); ++i) {
    keys.push_back(i->first);
  }
  return keys;
}

void supervisor_actor::shutdown(caf::error reason) {
  if (shutting_down_) {
    return;
  }
  shutting_down_ = true;
  self_ref_ = ctrl();
  stop_children(keys_reverse(), dynamic(),
                [this, reason = std::move(reason)]() mutable { quit(std::move(reason)); });
}

// -- management ---------------------------------------------------------------

std::vector<child_info> supervisor_actor::which_children() const {
  std::vector<child_info> result;
  result.reserve(children_.size());
  for (auto& [key, c] : children_) {
    child_info info;
    if (!dynamic()) {
      info.id = c.spec->id;
    }
    info.type = c.spec->type;
    info.restarts = c.restarts;
    switch (c.state) {
      case child_state::running:
      case child_state::terminating:
        info.handle = c.handle;
        info.status = child_status::running;
        info.uptime_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now_of(clock()) - c.started)
                .count();
        break;
      case child_state::restarting:
        info.status = child_status::restarting;
        break;
      case child_state::stopped:
        info.status = child_status::undefined;
        break;
    }
    result.push_back(std::move(info));
  }
  return result;
}

child_counts supervisor_actor::count_children() const {
  child_counts result;
  for (auto& [key, c] : children_) {
    if (c.state == child_state::running || c.state == child_state::terminating) {
      ++result.active;
    }
    if (c.spec->type == child_type::supervisor) {
      ++result.supervisors;
    } else {
      ++result.workers;
    }
  }
  result.specs = dynamic() ? 1 : children_.size();
  return result;
}

void supervisor_actor::start_child(child_spec& spec, caf::response_promise& rp) {
  if (dynamic()) {
    rp.deliver(make_error(supervisor_errc::simple_one_for_one,
                          "start_child with a spec under simple_one_for_one"));
    return;
  }
  if (auto err = check_childspec(flags_, spec)) {
    rp.deliver(std::move(err));
    return;
  }
  if (auto i = find_id(spec.id); i != children_.end()) {
    if (i->second.state == child_state::running) {
      rp.deliver(make_error(
          supervisor_errc::already_started,
          "child '" + spec.id + "' runs as actor " + std::to_string(i->second.handle.id())));
    } else {
      rp.deliver(make_error(supervisor_errc::already_present, "child '" + spec.id + "'"));
    }
    return;
  }
  child c;
  c.spec = std::make_shared<const child_spec>(std::move(spec));
  auto res = call_start(c);
  if (!res) {
    report(static_cast<int>(report_context::start_error), res.error(), &c);
    rp.deliver(make_error(supervisor_errc::start_failed,
                          "child '" + c.spec->id + "': " + system().render(res.error())));
    return;
  }
  if (!*res && c.spec->restart == restart_type::temporary) {
    rp.deliver(caf::actor{});
    return;
  }
  auto i = insert_child(std::move(c));
  if (*res) {
    i->second.handle = *res;
    i->second.state = child_state::running;
    watch(i->second);
  }
  rp.deliver(std::move(*res));
}

void supervisor_actor::start_dynamic_child(caf::message& args, caf::response_promise& rp) {
  if (!dynamic()) {
    rp.deliver(make_error(supervisor_errc::simple_one_for_one,
                          "start_child with arguments needs simple_one_for_one"));
    return;
  }
  child c;
  c.spec = template_;
  c.args = std::move(args);
  auto res = call_start(c);
  if (!res) {
    report(static_cast<int>(report_context::start_error), res.error(), &c);
    rp.deliver(make_error(supervisor_errc::start_failed,
                          "child '" + c.spec->id + "': " + system().render(res.error())));
    return;
  }
  if (!*res) {
    rp.deliver(caf::actor{});
    return;
  }
  auto i = insert_child(std::move(c));
  i->second.handle = *res;
  i->second.state = child_state::running;
  watch(i->second);
  rp.deliver(std::move(*res));
}

void supervisor_actor::terminate_child(child_iter i, caf::response_promise& rp) {
  auto key = i->first;
  auto after = [this, key, rp]() mutable {
    auto j = children_.find(key);
    if (j != children_.end()) {
      auto& c = j->second;
      if (c.state == child_state::restarting) {
        ++c.restart_gen;  // cancels the pending restart
      }
      c.state = child_state::stopped;
      if (dynamic() || c.spec->restart == restart_type::temporary) {
        erase_child(j);
      }
    }
    rp.deliver(caf::unit);
  };
  if (i->second.state == child_state::running) {
    stop_children({key}, false, std::move(after));
    return;
  }
  after();
}

supervisor_actor::child_iter supervisor_actor::find_stopped_child(const char* op,
                                                                  const std::string& id,
                                                                  caf::response_promise& rp) {
  if (dynamic()) {
    rp.deliver(make_error(supervisor_errc::simple_one_for_one,
                          std::string{op} + " under simple_one_for_one"));
    return children_.end();
  }
  auto i = find_id(id);
  if (i == children_.end()) {
    rp.deliver(make_error(supervisor_errc::not_found, "child '" + id + "'"));
    return children_.end();
  }
  switch (i->second.state) {
    case child_state::running:
    case child_state::terminating:
      rp.deliver(make_error(supervisor_errc::running, "child '" + id + "'"));
      return children_.end();
    case child_state::restarting:
      rp.deliver(make_error(supervisor_errc::restarting, "child '" + id + "'"));
      return children_.end();
    case child_state::stopped:
      break;
  }
  return i;
}

void supervisor_actor::restart_child(const std::string& id, caf::response_promise& rp) {
  auto i = find_stopped_child("restart_child", id, rp);
  if (i == children_.end()) {
    return;
  }
  auto res = call_start(i->second);
  if (!res) {
    report(static_cast<int>(report_context::start_error), res.error(), &i->second);
    rp.deliver(make_error(supervisor_errc::start_failed,
                          "child '" + id + "': " + system().render(res.error())));
    return;
  }
  if (*res) {
    i->second.handle = *res;
    i->second.state = child_state::running;
    watch(i->second);
  }
  rp.deliver(std::move(*res));
}

void supervisor_actor::delete_child(const std::string& id, caf::response_promise& rp) {
  auto i = find_stopped_child("delete_child", id, rp);
  if (i == children_.end()) {
    return;
  }
  erase_child(i);
  rp.deliver(caf::unit);
}

// -- helpers ------------------------------------------------------------------

supervisor_actor::child_iter supervisor_actor::find_id(const std::string& id) {
  auto i = by_id_.find(id);
  return i == by_id_.end() ? children_.end() : children_.find(i->second);
}

supervisor_actor::child_iter supervisor_actor::find_addr(const caf::actor_addr& addr) {
  if (!addr) {
    return children_.end();
  }
  auto i = by_addr_.find(addr);
  return i == by_addr_.end() ? children_.end() : children_.find(i->second);
}

supervisor_actor::child_iter supervisor_actor::find_handle(const caf::actor_addr& addr) {
  auto i = find_addr(addr);
  if (i != children_.end() || !addr || !dynamic()) {
    return i;
  }
  // Rare (a request naming a child that is waiting for its restart): a scan.
  for (auto j = children_.begin(); j != children_.end(); ++j) {
    if (j->second.state == child_state::restarting && j->second.last_addr == addr) {
      return j;
    }
  }
  return children_.end();
}

void supervisor_actor::report(int context, const caf::error& reason, const child* offender) {
  if (!log_ || !reporting(*log_)) {
    return;
  }
  detail::report(*log_, name_, static_cast<report_context>(context), system().render(reason),
                 offender != nullptr ? offender->spec.get() : nullptr,
                 offender != nullptr ? offender->handle : caf::actor{});
}

}  // namespace myelin::supervisors::detail
