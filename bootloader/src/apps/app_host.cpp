// The app_host actor: a broker on the link to one myelin-apphost process.
#include "apps/app_host.hpp"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/sec.hpp>

#include "apps/app_subscriber.hpp"
#include "boot/child_reaper.hpp"
#include "link/link.hpp"
#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/kv_snapshot.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/bootloader/apps.hpp"
#include "myelin/bootloader/memory_cgroup.hpp"
#include "myelin/runtime/apps/app_grants.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/kv/kv_store.hpp"
#include "myelin/runtime/log/app_output.hpp"
#include "myelin/runtime/log/syslog_server.hpp"

namespace myelin::bootloader {

namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

using tick_atom = caf::atom_constant<caf::atom("hbtick")>;
using exited_atom = caf::atom_constant<caf::atom("exited")>;
using kill_atom = caf::atom_constant<caf::atom("hardkill")>;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("apps");
  return l ? l : spdlog::default_logger();
}

struct host_state {
  app_host_options opts;
  pid_t pid = -1;
  bool exited = false;
  caf::io::connection_handle hdl;
  link::frame_reader reader;
  link::frame_writer writer;
  uint64_t next_call = 1;
  std::unordered_map<uint64_t, caf::response_promise> calls;
  /// Requests of the app forwarded to a service and not yet answered: while
  /// any is, reads go to the service too, so they stay in order (0007).
  size_t in_flight = 0;
  /// Pings carry unpredictable numbers; a pong must echo one of the last few
  /// (a blind pong is a protocol violation, not a heartbeat).
  std::array<uint64_t, 8> pings{};
  size_t next_ping = 0;
  std::mt19937_64 nonces{std::random_device{}()};
  steady::time_point last_pong = steady::now();
  /// Subscriptions the app holds through its proxies, in all and by tag.
  size_t subscriptions = 0;
  std::unordered_map<uint64_t, size_t> subscriptions_by_tag;
  /// Set when we asked the process to stop (or killed it): the exit reason.
  caf::error stop_reason;
  bool stopping = false;
  /// What the app host said before exiting (module refused, start failed).
  std::string failure;
  /// Why the core killed it for what it sent on the link (empty: it did not).
  std::string violation;
  /// The proxies holding the subscriptions of app actors, by tag (app_subscriber.hpp).
  std::unordered_map<uint64_t, caf::actor> subscribers;
  /// Events dropped because the link was backed up, and how many were logged.
  uint64_t dropped_events = 0;
  uint64_t dropped_logged = 0;
};

/// Most subscribing actors per app, and the backlog of the link (bytes the
/// socket did not take) above which events for the app are dropped.
constexpr size_t max_subscribers = 256;
constexpr uint64_t max_event_backlog = 1u << 20;

/// What the core holds for one app host at most (issue 18): requests in
/// flight to the services, subscriptions, and replies its host has not
/// read. Beyond, it is a protocol violation that ends the app host.
constexpr size_t max_in_flight = 256;
constexpr size_t max_subscriptions = 1024;
constexpr uint64_t max_reply_backlog = 16u << 20;
/// The longest prefix or subsystem a subscription may name.
constexpr size_t max_subscription_text = 4096;

/// Ends the app host for what it sent (decision 0078): the reason is kept
/// for its status, nothing more of it is read.
void violate(host_state& st, const std::string& why) {
  if (!st.violation.empty()) {
    return;
  }
  st.violation = "protocol violation: " + why;
  log()->error("app {}: {}; killing its host", st.opts.name, st.violation);
  ::kill(st.pid, SIGKILL);
}

/// Sends the answer to request `id`; a host that does not read its replies
/// is ended before the core holds more than max_reply_backlog for it.
void respond(caf::io::broker* self, host_state& st, uint64_t id, caf::message reply) {
  if (!st.violation.empty()) {
    return;
  }
  st.writer.send(self, caf::make_message(link::response_atom::value, id, std::move(reply)));
  if (st.writer.queued() > max_reply_backlog) {
    violate(st, "its host does not read its link (" + std::to_string(st.writer.queued() >> 20) +
                    " MiB of replies waiting)");
  }
}

std::string signal_text(int sig) {
  const char* name = sigabbrev_np(sig);
  return "killed by signal " + std::to_string(sig) +
         (name != nullptr ? std::string{" (SIG"} + name + ")" : "");
}

caf::error exit_reason_of(int status, const std::string& failure) {
  if (WIFSIGNALED(status)) {
    return make_error(app_errc::crashed, signal_text(WTERMSIG(status)));
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (code == 0) {
    return caf::exit_reason::normal;
  }
  if (code == 78) {
    return make_error(app_errc::module_refused, failure.empty() ? "module refused" : failure);
  }
  if (!failure.empty()) {
    return make_error(app_errc::start_failed, failure);
  }
  return make_error(app_errc::exited, "exited with code " + std::to_string(code));
}

/// Counts request `id` in flight and returns what answers it (and uncounts
/// it); nothing when the host has max_in_flight already (it is ended).
std::optional<std::function<void(caf::message)>> in_flight(caf::io::broker* self,
                                                           std::shared_ptr<host_state> st,
                                                           uint64_t id) {
  if (st->in_flight >= max_in_flight) {
    violate(*st, "more than " + std::to_string(max_in_flight) + " requests in flight");
    return std::nullopt;
  }
  ++st->in_flight;
  return [self, st, id](caf::message reply) {
    --st->in_flight;
    respond(self, *st, id, std::move(reply));
  };
}

/// Forwards one request of the app to a core service, expecting a reply of
/// type T, and sends the answer back over the link; `on_ok` runs when the
/// service answered with T. More than max_in_flight at once end the host.
template <class T>
void forward_then(caf::io::broker* self, std::shared_ptr<host_state> st, uint64_t id,
                  const caf::actor& service, caf::message request, std::function<void()> on_ok) {
  auto tracked = in_flight(self, st, id);
  if (!tracked) {
    return;
  }
  auto answer = std::move(*tracked);
  auto on_error = [answer](caf::error& err) { answer(caf::make_message(std::move(err))); };
  if constexpr (std::is_void_v<T>) {
    self->request(service, 10s, std::move(request))
        .then(
            [answer, on_ok]() {
              if (on_ok) {
                on_ok();
              }
              answer(caf::make_message());
            },
            on_error);
  } else {
    self->request(service, 10s, std::move(request))
        .then(
            [answer, on_ok](T& x) {
              if (on_ok) {
                on_ok();
              }
              answer(caf::make_message(std::move(x)));
            },
            on_error);
  }
}

/// Forwards one request of the app to a core service, expecting a reply of
/// type T, and sends the answer back over the link.
template <class T>
void forward(caf::io::broker* self, std::shared_ptr<host_state> st, uint64_t id,
             const caf::actor& service, caf::message request) {
  forward_then<T>(self, std::move(st), id, service, std::move(request), {});
}

/// Forwards a request whose reply is T (void: an empty reply).
using forward_fn = void (*)(caf::io::broker*, std::shared_ptr<host_state>, uint64_t,
                            const caf::actor&, caf::message);

/// The requests an app may send, one row each: the service, the request's
/// first element, the reply's type. Nothing else crosses the link. Adding a
/// request for apps is one row here (and, for a new reply type, its
/// registration in link.cpp); reads of kv the snapshot can answer are
/// answered without the service (kv_snapshot::answer).
struct app_request {
  caf::atom_value service;
  caf::atom_value op;
  forward_fn forward;
};

const std::vector<app_request>& app_requests() {
  using namespace actors;
  static const std::vector<app_request> table{
      {kv_registry_name, kv_get_atom::value, &forward<std::string>},
      {kv_registry_name, kv_get_active_atom::value, &forward<std::string>},
      {kv_registry_name, kv_get_all_atom::value, &forward<runtime::kv_map>},
      {kv_registry_name, kv_get_all_active_atom::value, &forward<runtime::kv_map>},
      {kv_registry_name, kv_put_atom::value, &forward<void>},
      {kv_registry_name, kv_put_active_atom::value, &forward<void>},
      {kv_registry_name, kv_reload_atom::value, &forward<void>},
      {kv_registry_name, kv_status_atom::value, &forward<kv_status>},
      {kv_registry_name, serial_atom::value, &forward<runtime::serial_result>},
      {firmware_registry_name, fw_status_atom::value, &forward<runtime::firmware_status>},
      {firmware_registry_name, fw_validate_atom::value, &forward<void>},
      {firmware_registry_name, fw_revert_atom::value, &forward<void>},
      {firmware_registry_name, fw_prevent_revert_atom::value, &forward<void>},
      {uevent_registry_name, uevent_get_atom::value, &forward<uevent_snapshot>},
      {uevent_registry_name, uevent_stats_atom::value, &forward<uevent_stats>},
      {net_registry_name, net_get_atom::value, &forward<net_properties>},
      {net_registry_name, net_status_atom::value, &forward<net_status>},
  };
  return table;
}

/// Why the app's grants refuse `request` to `service` (empty: allowed). The
/// request's shape is checked by the service; only its keys matter here.
std::string grant_refusal(const runtime::app_grants& g, caf::atom_value service,
                          const caf::message& request) {
  using namespace actors;
  auto op = request.get_as<caf::atom_value>(0);
  if (service == kv_registry_name) {
    if ((op == kv_get_atom::value || op == kv_get_active_atom::value) &&
        request.match_elements<caf::atom_value, std::string>()) {
      const auto& key = request.get_as<std::string>(1);
      if (op == kv_get_atom::value) {
        return runtime::read_refusal(g, key);
      }
      // <active>.<key>: either slot, since the active one may change.
      auto a = runtime::read_refusal(g, "a." + key);
      return a.empty() ? runtime::read_refusal(g, "b." + key) : a;
    }
    if ((op == kv_put_atom::value || op == kv_put_active_atom::value) &&
        request.match_elements<caf::atom_value, runtime::kv_map>()) {
      for (const auto& [k, v] : request.get_as<runtime::kv_map>(1)) {
        auto why = op == kv_put_atom::value ? runtime::write_refusal(g, k)
                                            : runtime::write_refusal(g, "a." + k);
        if (why.empty() && op == kv_put_active_atom::value) {
          why = runtime::write_refusal(g, "b." + k);
        }
        if (!why.empty()) {
          return why;
        }
      }
    }
    return {};
  }
  if (service == firmware_registry_name) {
    bool validate = op == fw_validate_atom::value;
    bool manage = op == fw_revert_atom::value || op == fw_prevent_revert_atom::value;
    if ((validate && g.firmware == "status") || (manage && g.firmware != "manage")) {
      return "app " + g.app + " may not " + (validate ? "validate" : "revert") +
             " firmware (apps." + g.app + ".firmware = \"" + g.firmware + "\"; grant " +
             (validate ? "\"validate\"" : "\"manage\"") + ")";
    }
  }
  return {};
}

/// Routes an app's service request through app_requests(); anything else is
/// answered with an error.
void route(caf::io::broker* self, std::shared_ptr<host_state> st, uint64_t id,
           caf::atom_value service, caf::message request) {
  auto refuse = [&](const std::string& why) {
    respond(self, *st, id, caf::make_message(caf::make_error(caf::sec::unexpected_message, why)));
  };
  const auto& table = app_requests();
  if (std::none_of(table.begin(), table.end(),
                   [&](const app_request& r) { return r.service == service; })) {
    return refuse("no service '" + caf::to_string(service) + "' for apps");
  }
  if (request.empty() || !request.match_element<caf::atom_value>(0)) {
    return refuse("malformed service request");
  }
  auto op = request.get_as<caf::atom_value>(0);
  auto row = std::find_if(table.begin(), table.end(),
                          [&](const app_request& r) { return r.service == service && r.op == op; });
  if (row == table.end()) {
    return refuse("request '" + caf::to_string(op) + "' is not available to apps");
  }
  auto target = self->system().registry().get<caf::actor>(service);
  if (!target) {
    return refuse("the " + caf::to_string(service) + " service is not running");
  }
  // What this app was granted (issue 18): checked here, before any service
  // sees the request; a refusal is an error to the app and a log line.
  if (auto why = grant_refusal(st->opts.grants, service, request); !why.empty()) {
    log()->warn("app {}: refused: {}", st->opts.name, why);
    return refuse(why);
  }
  if (service == actors::kv_registry_name &&
      (op == actors::kv_get_all_atom::value || op == actors::kv_get_all_active_atom::value)) {
    // Only what it may read. Through the service, after the app's writes in
    // flight, like every kv request.
    bool active = op == actors::kv_get_all_active_atom::value;
    auto tracked = in_flight(self, st, id);
    if (!tracked) {
      return;
    }
    auto answer = std::move(*tracked);
    self->request(target, 10s, actors::kv_get_all_atom::value)
        .then(
            [st, answer, active](const runtime::kv_map& all) {
              runtime::kv_map visible;
              auto slot = runtime::active_slot(all);
              for (const auto& [k, v] : active ? runtime::get_all_active(all) : all) {
                if (runtime::read_refusal(st->opts.grants, active ? slot + "." + k : k).empty()) {
                  visible.emplace(k, v);
                }
              }
              answer(caf::make_message(std::move(visible)));
            },
            [answer](caf::error& err) { answer(caf::make_message(std::move(err))); });
    return;
  }
  if (service == actors::kv_registry_name && st->in_flight == 0) {
    // Reads are answered here, from the store the kv service published.
    if (auto reply = actors::kv_snapshot::of(self->system()).answer(request)) {
      return respond(self, *st, id, std::move(*reply));
    }
  }
  row->forward(self, st, id, target, std::move(request));
}

/// Routes an app actor's (un)subscribe request through the proxy of its tag
/// (made on first use), so that the services see one subscriber per app actor.
void route_subscription(caf::io::broker* self, std::shared_ptr<host_state> st, uint64_t id,
                        uint64_t tag, caf::atom_value service, caf::message request) {
  auto refuse = [&](const std::string& why) {
    respond(self, *st, id, caf::make_message(caf::make_error(caf::sec::unexpected_message, why)));
  };
  using namespace actors;
  auto i = st->subscribers.find(tag);
  if (i == st->subscribers.end()) {
    if (st->subscribers.size() >= max_subscribers) {
      return refuse("more than " + std::to_string(max_subscribers) + " subscribing actors");
    }
    auto proxy =
        spawn_app_subscriber(self->system(), caf::actor_cast<caf::actor>(self->ctrl()), tag);
    i = st->subscribers.emplace(tag, proxy).first;
  }
  auto& proxy = i->second;
  // Counted when the service took it, uncounted when it let go of one: an
  // unsubscribe of something never subscribed does not lower the count.
  auto subscribed = [st, tag] {
    ++st->subscriptions;
    ++st->subscriptions_by_tag[tag];
  };
  auto unsubscribed = [st, tag] {
    auto& n = st->subscriptions_by_tag[tag];
    if (n > 0) {
      --n;
      --st->subscriptions;
    }
  };
  bool subscribe = request.match_elements<uevent_subscribe_atom, std::string, std::string>() ||
                   request.match_elements<net_subscribe_atom, std::string>();
  if (subscribe) {
    for (size_t k = 1; k < request.size(); ++k) {
      if (request.get_as<std::string>(k).size() > max_subscription_text) {
        return refuse("a subscription names at most " + std::to_string(max_subscription_text) +
                      " bytes");
      }
    }
    if (st->subscriptions >= max_subscriptions) {
      return violate(*st, "more than " + std::to_string(max_subscriptions) + " subscriptions held");
    }
  }
  if (service == uevent_registry_name &&
      request.match_elements<uevent_subscribe_atom, std::string, std::string>()) {
    forward_then<uint64_t>(self, st, id, proxy, std::move(request), subscribed);
  } else if (service == uevent_registry_name &&
             request.match_elements<uevent_unsubscribe_atom, uint64_t>()) {
    forward_then<void>(self, st, id, proxy, std::move(request), unsubscribed);
  } else if (service == net_registry_name &&
             request.match_elements<net_subscribe_atom, std::string>()) {
    forward_then<net_properties>(self, st, id, proxy, std::move(request), subscribed);
  } else if (service == net_registry_name &&
             request.match_elements<net_unsubscribe_atom, std::string>()) {
    forward_then<void>(self, st, id, proxy, std::move(request), unsubscribed);
  } else {
    refuse("malformed subscription request");
  }
}

/// Writes an event for the app actor `tag`, or drops it (counted, logged)
/// while the link to the app host is backed up: a slow app never holds the
/// services or myelin-boot's memory.
void relay_event(caf::io::broker* self, host_state& st, uint64_t tag, caf::message& event) {
  if (st.writer.queued() > max_event_backlog) {
    if (st.dropped_events++ == st.dropped_logged) {
      log()->warn("app {}: its host does not keep up; dropping its uevent/net events",
                  st.opts.name);
    }
    return;
  }
  if (st.dropped_events > st.dropped_logged) {
    log()->warn("app {}: dropped {} uevent/net events while its host did not keep up", st.opts.name,
                st.dropped_events - st.dropped_logged);
    st.dropped_logged = st.dropped_events;
  }
  st.writer.send(self, caf::make_message(link::event_atom::value, tag, std::move(event)));
}

/// Why a host killed by SIGKILL died when its memory cgroup saw an OOM kill.
caf::error oom_reason(const app_host_options& opts) {
  return make_error(app_errc::crashed, signal_text(SIGKILL) +
                                           ": out of memory (cgroup memory.max " +
                                           std::to_string(opts.memory_limit_mb) + " MiB)");
}

caf::behavior host_broker(caf::io::broker* self, int fd, pid_t pid, app_host_options opts) {
  auto st = std::make_shared<host_state>();
  st->opts = std::move(opts);
  st->pid = pid;
  st->hdl = self->add_scribe(fd);
  st->reader.start(self, st->hdl);
  st->writer.start(self, st->hdl, fd);
  // No app host outlives its actor, however the actor ends.
  self->attach_functor([st] {
    if (!st->exited && st->pid > 0) {
      ::kill(st->pid, SIGKILL);
    }
    // Their end ends the app's subscriptions (the services monitor them).
    for (auto& [tag, proxy] : st->subscribers) {
      caf::anon_send_exit(proxy, caf::exit_reason::kill);
    }
    st->subscribers.clear();
  });
  self->set_exit_handler([self, st](caf::exit_msg& msg) {
    if (st->stopping) {
      return;
    }
    st->stopping = true;
    st->stop_reason = msg.reason;
    log()->debug("app {}: stopping its host (pid {})", st->opts.name, st->pid);
    if (st->exited) {
      self->quit(msg.reason);
      return;
    }
    ::kill(st->pid, SIGTERM);
    actors::self_timer(self, st->opts.stop_timeout, kill_atom::value);
  });
  actors::self_timer(self, st->opts.heartbeat, tick_atom::value);
  return {
      [self, st](caf::io::new_data_msg& msg) {
        if (!st->violation.empty()) {
          return;  // killed for what it sent: nothing more is read
        }
        // The link is a trust boundary (decision 0078): whatever the app
        // host sends, the worst outcome is that app host's end.
        auto violated = [st](const caf::error& err) { violate(*st, runtime::describe(err)); };
        auto payload = st->reader.feed(self, st->hdl, msg.buf);
        if (!payload) {
          return violated(payload.error());
        }
        if (!*payload) {
          return;
        }
        auto decoded = link::decode(self->system(), **payload);
        if (!decoded) {
          return violated(decoded.error());
        }
        auto& m = *decoded;
        if (m.match_elements<link::pong_atom, uint64_t>()) {
          auto nonce = m.get_as<uint64_t>(1);
          if (nonce == 0 ||
              std::find(st->pings.begin(), st->pings.end(), nonce) == st->pings.end()) {
            return violate(*st, "a pong for a ping that was never sent");
          }
          st->last_pong = steady::now();
        } else if (m.match_elements<link::hello_atom, std::string, std::string>()) {
          st->last_pong = steady::now();
          caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name,
                         std::string{"start"}, m.get_as<std::string>(2));
          caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name,
                         std::string{"ready"}, m.get_as<std::string>(1));
        } else if (m.match_elements<link::failed_atom, std::string>()) {
          st->failure = m.get_as<std::string>(1);
        } else if (m.match_elements<link::reply_atom, uint64_t, bool, std::string>()) {
          log()->debug("app {}: reply {} from host pid {}", st->opts.name, m.get_as<uint64_t>(1),
                       st->pid);
          auto i = st->calls.find(m.get_as<uint64_t>(1));
          if (i == st->calls.end()) {
            return violate(*st, "a reply to call " + std::to_string(m.get_as<uint64_t>(1)) +
                                    ", which was never made");
          }
          if (m.get_as<bool>(2)) {
            i->second.deliver(m.get_as<std::string>(3));
          } else {
            i->second.deliver(make_error(app_errc::command_failed, m.get_as<std::string>(3)));
          }
          st->calls.erase(i);
        } else if (m.match_elements<link::request_atom, uint64_t, caf::atom_value,
                                    caf::message>()) {
          route(self, st, m.get_as<uint64_t>(1), m.get_as<caf::atom_value>(2),
                m.get_as<caf::message>(3));
        } else if (m.match_elements<link::subscribe_atom, uint64_t, uint64_t, caf::atom_value,
                                    caf::message>()) {
          route_subscription(self, st, m.get_as<uint64_t>(1), m.get_as<uint64_t>(2),
                             m.get_as<caf::atom_value>(3), m.get_as<caf::message>(4));
        } else if (m.match_elements<link::gone_atom, uint64_t>()) {
          auto i = st->subscribers.find(m.get_as<uint64_t>(1));
          if (i != st->subscribers.end()) {
            caf::anon_send_exit(i->second, caf::exit_reason::kill);
            st->subscribers.erase(i);
            auto n = st->subscriptions_by_tag.find(m.get_as<uint64_t>(1));
            if (n != st->subscriptions_by_tag.end()) {
              st->subscriptions -= n->second;
              st->subscriptions_by_tag.erase(n);
            }
          }
        } else {
          violate(*st, "unexpected link message " + caf::to_string(m).substr(0, 200));
        }
      },
      [st](caf::io::data_transferred_msg& msg) { st->writer.transferred(msg); },
      [self, st](link::event_atom, uint64_t tag, caf::message& event) {
        relay_event(self, *st, tag, event);
      },
      [self, st](caf::io::connection_closed_msg&) {
        // The process is ending; its exit status decides the reason.
      },
      [self, st](tick_atom) {
        if (st->exited || st->stopping) {
          return;
        }
        if (steady::now() - st->last_pong > st->opts.heartbeat_timeout) {
          log()->error("app {}: no heartbeat for {} ms; killing its host", st->opts.name,
                       st->opts.heartbeat_timeout.count());
          st->stop_reason = make_error(
              app_errc::missed_heartbeat,
              "no answer for " + std::to_string(st->opts.heartbeat_timeout.count()) + " ms");
          st->stopping = true;
          ::kill(st->pid, SIGKILL);
          return;
        }
        uint64_t nonce = 0;
        while (nonce == 0) {
          nonce = st->nonces();
        }
        st->pings[st->next_ping++ % st->pings.size()] = nonce;
        st->writer.send(self, caf::make_message(link::ping_atom::value, nonce));
        actors::self_timer(self, st->opts.heartbeat, tick_atom::value);
      },
      [self, st](kill_atom) {
        if (!st->exited) {
          log()->warn("app {}: did not stop within {} ms; killing it", st->opts.name,
                      st->opts.stop_timeout.count());
          ::kill(st->pid, SIGKILL);
        }
      },
      [self, st](exited_atom, int status, uint64_t oom_kills) {
        st->exited = true;
        log()->debug("app {}: host pid {} exited, status {}", st->opts.name, st->pid, status);
        auto reason = st->stop_reason ? st->stop_reason
                      : !st->violation.empty()
                          ? make_error(app_errc::protocol_violation, st->violation)
                          : exit_reason_of(status, st->failure);
        if (!st->stop_reason && oom_kills > 0 && WIFSIGNALED(status) &&
            WTERMSIG(status) == SIGKILL) {
          reason = oom_reason(st->opts);
        }
        auto text = reason ? runtime::describe(reason) : std::string{"exited normally"};
        if (st->stopping && st->stop_reason == caf::exit_reason::user_shutdown) {
          text = "stopped";
        }
        caf::anon_send(st->opts.manager, app_event_atom::value, st->opts.name,
                       std::string{"exited"}, text);
        for (auto& [id, rp] : st->calls) {
          rp.deliver(make_error(app_errc::not_running, "app " + st->opts.name + " stopped"));
        }
        st->calls.clear();
        self->quit(reason);
      },
      [self, st](app_call_atom, std::string& command, std::vector<std::string>& args) {
        auto rp = self->make_response_promise();
        auto id = st->next_call++;
        log()->debug("app {}: call {} '{}' to host pid {}", st->opts.name, id, command, st->pid);
        st->writer.send(self, caf::make_message(link::call_atom::value, id, std::move(command),
                                                std::move(args)));
        st->calls.emplace(id, rp);
        return rp;
      },
  };
}

/// What the child of spawn_child() does between clone and execve; prepared
/// by the parent, as the child may not allocate or take locks.
struct child_setup {
  char** argv = nullptr;
  char** envp = nullptr;
  pid_t parent = 0;
  int out_fd = -1;
  int link_fd = -1;
  const char* join_cgroup = nullptr;
  rlimit limit{};
  bool apply_rlimit = false;
  /// The sandbox (decision 0079): a user of its own, its data directory as
  /// working directory, no_new_privs and the seccomp filter.
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
  const char* work_dir = nullptr;
  bool no_new_privs = false;
  const sock_fprog* seccomp = nullptr;
  /// Set by the child when a step before execve failed (with exec_errno).
  const char* failed_step = nullptr;
  /// Set by the child when execve failed (the parent reads it once the
  /// child is gone: CLONE_VFORK, shared memory).
  int exec_errno = 0;
};

/// The child's side: only system calls, on its own stack, in the parent's
/// memory (CLONE_VM) until execve.
__attribute__((no_sanitize("address"))) int child_main(void* arg) {
  auto& c = *static_cast<child_setup*>(arg);
  // Handlers are the parent's code: back to the defaults before anything can
  // arrive (signals are all blocked until the mask is cleared below).
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction sa {};
    if (::sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler != SIG_IGN &&
        sa.sa_handler != SIG_DFL) {
      sa = {};
      sa.sa_handler = SIG_DFL;
      ::sigaction(sig, &sa, nullptr);
    }
  }
  // Its own process group: a Ctrl-C meant for myelin-boot must not reach
  // the apps behind its back (myelin-boot stops them in order).
  ::setpgid(0, 0);
  if (c.out_fd >= 0) {
    ::dup2(c.out_fd, 1);
    ::dup2(c.out_fd, 2);
  }
  if (c.link_fd == 3) {
    ::fcntl(3, F_SETFD, 0);
  } else {
    ::dup2(c.link_fd, 3);
  }
  bool joined = false;
  if (c.join_cgroup != nullptr) {
    int cg = ::open(c.join_cgroup, O_WRONLY | O_CLOEXEC);
    joined = cg >= 0 && ::write(cg, "0", 1) == 1;
    if (cg >= 0) {
      ::close(cg);
    }
  }
  if (c.apply_rlimit && !joined) {
    ::setrlimit(RLIMIT_AS, &c.limit);
  }
  auto fail = [&c](const char* step) {
    c.failed_step = step;
    c.exec_errno = errno != 0 ? errno : EPERM;
    ::_exit(127);
  };
  if (c.switch_user) {
    // Nothing to regain: an empty bounding set, no ambient capabilities;
    // the switch to a user other than root clears the rest. Raw system
    // calls: glibc's wrappers would signal myelin-boot's threads (setxid).
    for (int cap = 0; cap < 64; ++cap) {
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) {
        break;
      }
    }
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
#ifdef SYS_setresuid32
    constexpr long nr_setgroups = SYS_setgroups32, nr_setresgid = SYS_setresgid32,
                   nr_setresuid = SYS_setresuid32;
#else
    constexpr long nr_setgroups = SYS_setgroups, nr_setresgid = SYS_setresgid,
                   nr_setresuid = SYS_setresuid;
#endif
    if (::syscall(nr_setgroups, 0, nullptr) != 0) {
      fail("setgroups");
    }
    if (::syscall(nr_setresgid, c.gid, c.gid, c.gid) != 0) {
      fail("setresgid");
    }
    if (::syscall(nr_setresuid, c.uid, c.uid, c.uid) != 0) {
      fail("setresuid");
    }
  }
  // Dies with myelin-boot, whatever happens to it (set after the user
  // switch, which clears it).
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != c.parent) {
    ::_exit(127);
  }
  if (c.work_dir != nullptr && ::chdir(c.work_dir) != 0) {
    fail("chdir to its data directory");
  }
  if (c.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fail("no_new_privs");
  }
  if (c.seccomp != nullptr && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, c.seccomp) != 0) {
    fail("seccomp");
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::execve(c.argv[0], c.argv, c.envp);
  c.exec_errno = errno != 0 ? errno : ENOEXEC;
  ::_exit(127);
}

/// Starts a child that runs child_main() and then execs, the way
/// posix_spawn does: clone(CLONE_VM | CLONE_VFORK) on a stack of its own, so
/// myelin-boot's page tables are neither copied nor torn down again, and
/// none of its pages becomes copy-on-write (decision 0068). The calling
/// thread waits until the child has called execve (or _exit); the others run
/// on. Returns the pid, or -1 with errno.
pid_t spawn_child(child_setup& setup) {
  constexpr size_t stack_size = 64 * 1024;
  void* stack = ::mmap(nullptr, stack_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    return -1;
  }
  // No signal handler of ours may run in the child while it shares our memory.
  sigset_t all;
  sigset_t old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::clone(child_main, static_cast<char*>(stack) + stack_size,
                      CLONE_VM | CLONE_VFORK | SIGCHLD, &setup);
  int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, stack_size);
  errno = err;
  return pid;
}

}  // namespace

supervisors::start_fn app_host_start(app_host_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
      return make_error(app_errc::start_failed, std::string{"socketpair: "} + std::strerror(errno));
    }
    // Who it runs as and where its data lives (decision 0079).
    auto id_opts = opts.identity;
    id_opts.own_user = opts.sandbox && runtime::can_switch_users();
    auto identity = runtime::app_identity_for(opts.name, id_opts);
    if (!identity) {
      ::close(sv[0]);
      ::close(sv[1]);
      return make_error(app_errc::start_failed,
                        "app data directory: " + runtime::describe(identity.error()));
    }
    static const runtime::seccomp_program filter{::getpid()};
    if (identity->switch_user) {
      runtime::app_users::set(opts.name, identity->uid);
    }
    std::string sandbox_text = "off (apphost.sandbox = false)";
    if (opts.sandbox) {
      sandbox_text = identity->switch_user
                         ? "uid " + std::to_string(identity->uid) + ", no capabilities"
                         : "myelin-boot's user (not root)";
      sandbox_text += ", no_new_privs, seccomp (" + std::to_string(filter.refused().size()) +
                      " system calls refused, no signals to PID 1 or myelin-boot)";
    }
    // Everything the child needs is prepared before fork: after it, only
    // async-signal-safe calls are allowed (other threads may hold locks).
    std::vector<std::string> args{opts.apphost_path,
                                  "--app",
                                  opts.name,
                                  "--module",
                                  opts.module,
                                  "--link-fd",
                                  "3",
                                  "--scheduler-threads",
                                  std::to_string(opts.scheduler_threads),
                                  "--scheduler-policy",
                                  opts.scheduler_policy,
                                  "--target",
                                  opts.target,
                                  "--data-dir",
                                  identity->data_dir};
    std::vector<char*> argv;
    for (auto& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "MALLOC_ARENA_MAX=", 17) != 0 &&
          (!identity->switch_user || std::strncmp(*e, "HOME=", 5) != 0)) {
        env_strings.emplace_back(*e);
      }
    }
    if (identity->switch_user) {
      env_strings.emplace_back("HOME=" + identity->data_dir);
    }
    // Few malloc arenas keep the address space small under RLIMIT_AS.
    env_strings.emplace_back("MALLOC_ARENA_MAX=2");
    std::vector<char*> envp;
    for (auto& e : env_strings) {
      envp.push_back(e.data());
    }
    envp.push_back(nullptr);
    rlimit limit{};
    limit.rlim_cur = limit.rlim_max =
        opts.memory_limit_mb > 0 ? static_cast<rlim_t>(opts.memory_limit_mb) << 20 : RLIM_INFINITY;
    // The memory limit: a cgroup v2 of its own where possible, else RLIMIT_AS.
    std::optional<memory_cgroup> cgroup;
    std::string memory_text = "none";
    if (opts.memory_limit_mb > 0) {
      auto mb = std::to_string(opts.memory_limit_mb) + " MiB";
      if (auto cg = memory_cgroup::create(opts.name, opts.memory_limit_mb << 20)) {
        cgroup = std::move(*cg);
        memory_text = mb + " (cgroup " + cgroup->path() + ")";
      } else {
        static std::once_flag told;
        std::call_once(told, [&] {
          log()->info("app memory limits use RLIMIT_AS: {}", runtime::describe(cg.error()));
        });
        memory_text = mb + " (RLIMIT_AS)";
      }
    }
    const char* join_cgroup = cgroup ? cgroup->procs_file().c_str() : nullptr;
#ifdef MYELIN_SANITIZE_BUILD
    // AddressSanitizer reserves terabytes of address space: RLIMIT_AS would
    // kill every app host at start.
    if (opts.memory_limit_mb > 0) {
      static std::once_flag warned;
      std::call_once(warned, [] {
        log()->warn("sanitizer build: app memory limits (RLIMIT_AS) are not applied");
      });
    }
#endif
    // The app's stdout/stderr: passed through, last lines kept for push reports.
    int out_fd = runtime::app_output::capture(opts.name);
    child_setup setup;
    setup.argv = argv.data();
    setup.envp = envp.data();
    setup.parent = ::getpid();
    setup.out_fd = out_fd;
    setup.link_fd = sv[1];
    setup.join_cgroup = join_cgroup;
    setup.limit = limit;
#ifndef MYELIN_SANITIZE_BUILD
    setup.apply_rlimit = opts.memory_limit_mb > 0;
#endif
    setup.switch_user = identity->switch_user;
    setup.uid = identity->uid;
    setup.gid = identity->gid;
    setup.work_dir = identity->data_dir.c_str();
    setup.no_new_privs = opts.sandbox;
    setup.seccomp = opts.sandbox ? filter.program() : nullptr;
    pid_t pid = spawn_child(setup);
    if (pid < 0) {
      auto err = errno;
      ::close(out_fd);
      ::close(sv[0]);
      ::close(sv[1]);
      if (cgroup) {
        cgroup->remove();
      }
      return make_error(app_errc::start_failed, std::string{"clone: "} + std::strerror(err));
    }
    if (setup.exec_errno != 0) {
      // The child could not become an app host and is gone already: say
      // why (not "exited with code 127"), and collect it.
      ::waitpid(pid, nullptr, 0);
      ::close(out_fd);
      ::close(sv[0]);
      ::close(sv[1]);
      if (cgroup) {
        cgroup->remove();
      }
      if (setup.failed_step != nullptr) {
        return make_error(app_errc::start_failed, std::string{"app host sandbox: "} +
                                                      setup.failed_step + ": " +
                                                      std::strerror(setup.exec_errno));
      }
      bool denied = identity->switch_user && setup.exec_errno == EACCES;
      auto as = denied ? " as uid " + std::to_string(identity->uid) : std::string{};
      auto hint = denied ? " (that user must be able to search every directory on its way)" : "";
      return make_error(app_errc::start_failed, "cannot run the app host " + opts.apphost_path +
                                                    as + ": " + std::strerror(setup.exec_errno) +
                                                    hint);
    }
    ::close(sv[1]);
    ::close(out_fd);
    auto self = sys.middleman().spawn_broker(host_broker, sv[0], pid, opts);
    // Watched at once, so that as PID 1 the reaper never takes it for an orphan.
    child_reaper::instance().watch(pid, [self, cgroup](int status) {
      uint64_t oom_kills = 0;
      if (cgroup) {
        oom_kills = cgroup->oom_kills();
        cgroup->remove();
      }
      caf::anon_send(self, exited_atom::value, status, oom_kills);
    });
    caf::anon_send(opts.manager, app_event_atom::value, opts.name, std::string{"memory"},
                   memory_text);
    caf::anon_send(opts.manager, app_event_atom::value, opts.name, std::string{"sandbox"},
                   sandbox_text);
    return self;
  };
}

}  // namespace myelin::bootloader
