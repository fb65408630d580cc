// The uevent service actor: the netlink reader thread, the property table,
// subscriptions, follow requests, modprobe batches, coldplug and re-scans.
#include "myelin/actors/uevent.hpp"
#include "myelin/actors/thread_failure.hpp"

#include "myelin/actors/registry.hpp"

#include <linux/netlink.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/platform/thread_name.hpp"
#include "myelin/runtime/uevent/modprobe.hpp"
#include "myelin/runtime/uevent/sysfs_devices.hpp"
#include "myelin/runtime/uevent/uevent_parser.hpp"
#include "myelin/runtime/uevent/uevent_table.hpp"

namespace myelin::actors::uevent_detail {

/// What the reader thread hands to the actor after draining the socket.
struct reader_batch {
  std::vector<runtime::uevent> events;
  std::vector<std::pair<runtime::uevent_errc, std::string>> errors;
  uint64_t received = 0;
  /// Messages not sent by the kernel (netlink port id != 0).
  uint64_t foreign = 0;
  uint64_t enobufs = 0;
  /// An unexpected read error (the reader backs off for a second).
  std::string read_error;
};

/// The devices found by a re-scan of sysfs.
using scan_result =
    std::shared_ptr<std::map<runtime::uevent_table::key, runtime::uevent_properties>>;

}  // namespace myelin::actors::uevent_detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::actors::uevent_detail::reader_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::actors::uevent_detail::scan_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::modprobe_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::coldplug_result)

namespace myelin::actors {

namespace {

using namespace uevent_detail;

using batch_atom = caf::atom_constant<caf::atom("uevbatch")>;
using modprobe_done_atom = caf::atom_constant<caf::atom("uevmpdone")>;
using modules_done_atom = caf::atom_constant<caf::atom("uevmods")>;
using coldplug_done_atom = caf::atom_constant<caf::atom("uevcold")>;
using scanned_atom = caf::atom_constant<caf::atom("uevscanned")>;
using wake_atom = caf::atom_constant<caf::atom("uevwake")>;

constexpr uint64_t from_now = std::numeric_limits<uint64_t>::max();
constexpr auto modprobe_timeout = std::chrono::seconds{10};
/// Malformed messages and overflows logged in full; after that every 1000th.
constexpr uint64_t log_first = 10;

std::shared_ptr<spdlog::logger> log() {
  if (auto l = spdlog::get("uevent")) {
    return l;
  }
  // Share the sinks of the default logger under our own name.
  auto l = spdlog::default_logger()->clone("uevent");
  try {
    spdlog::register_logger(l);
  } catch (const spdlog::spdlog_ex&) {
    // Registered meanwhile by another thread: use that one.
    if (auto existing = spdlog::get("uevent")) {
      return existing;
    }
  }
  return l;
}

bool worth_logging(uint64_t count) {
  return count <= log_first || count % 1000 == 0;
}

/// The socket, the reader thread and the helper threads; shared by the actor
/// and its cleanup, stopped exactly once.
struct uevent_io {
  int fd = -1;
  int stop_fd = -1;
  std::thread reader;
  std::thread coldplug;
  std::thread scan;
  std::thread modprobe;
  std::thread modules;
  std::once_flag stopped;

  void stop() {
    std::call_once(stopped, [this] {
      if (stop_fd >= 0) {
        uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(stop_fd, &one, sizeof(one));
      }
      for (auto* t : {&reader, &coldplug, &scan, &modprobe, &modules}) {
        if (t->joinable()) {
          t->join();
        }
      }
      if (fd >= 0) {
        ::close(fd);
      }
      if (stop_fd >= 0) {
        ::close(stop_fd);
      }
    });
  }
};

/// Opens the uevent socket; returns the fd or the reason it cannot be had.
int open_socket(const uevent_options& opts, int64_t& effective_rcvbuf, std::string& why) {
  int fd = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
  if (fd < 0) {
    why = std::string{"socket(NETLINK_KOBJECT_UEVENT): "} + std::strerror(errno);
    return -1;
  }
  int size = opts.rcvbuf;
  // SO_RCVBUFFORCE ignores net.core.rmem_max but needs CAP_NET_ADMIN.
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;  // the kernel's uevents
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    why = std::string{"bind(NETLINK_KOBJECT_UEVENT, group 1): "} + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  int actual = 0;
  socklen_t len = sizeof(actual);
  if (::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &actual, &len) == 0) {
    effective_rcvbuf = actual;
  }
  return fd;
}

/// The reader thread: drains the socket whenever it is readable, parses, and
/// hands each drained batch to `target`. Never waits for the actor.
void read_loop(int fd, int stop_fd, bool accept_foreign, caf::actor target) {
  // Larger than any accepted message, so a cut message is an oversized one.
  std::vector<char> buf(2 * runtime::max_uevent_size);
  for (;;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_fd, POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc < 0 || (fds[1].revents & POLLIN) != 0 || (fds[0].revents & POLLNVAL) != 0) {
      return;
    }
    reader_batch batch;
    bool failing = false;
    // Bounded, so the actor sees progress during an endless storm.
    for (int i = 0; i < 1024; ++i) {
      sockaddr_nl from{};
      iovec iov{buf.data(), buf.size()};
      msghdr mh{};
      mh.msg_name = &from;
      mh.msg_namelen = sizeof(from);
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      auto n = ::recvmsg(fd, &mh, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        if (errno == ENOBUFS) {
          ++batch.enobufs;
          continue;
        }
        // EAGAIN: drained. Anything else is unexpected: say so, and do not
        // spin on a socket that keeps failing.
        failing = errno != EAGAIN && errno != EWOULDBLOCK;
        if (failing) {
          batch.read_error = std::string{"recvmsg: "} + std::strerror(errno);
        }
        break;
      }
      ++batch.received;
      if (from.nl_pid != 0 && !accept_foreign) {
        ++batch.foreign;
        continue;
      }
      if ((mh.msg_flags & MSG_TRUNC) != 0) {
        batch.errors.emplace_back(runtime::uevent_errc::too_large,
                                  "message longer than " + std::to_string(buf.size()) + " bytes");
        continue;
      }
      auto r = runtime::parse_uevent(buf.data(), static_cast<size_t>(n));
      if (r.ok()) {
        batch.events.push_back(std::move(r.event));
      } else {
        batch.errors.emplace_back(r.error, std::move(r.detail));
      }
    }
    if (batch.received > 0 || batch.enobufs > 0 || failing) {
      caf::anon_send(target, batch_atom::value, std::move(batch));
    }
    if (failing) {
      pollfd stop{stop_fd, POLLIN, 0};
      if (::poll(&stop, 1, 1000) > 0) {
        return;
      }
    }
  }
}

struct subscription {
  caf::actor who;
  std::string prefix;
  std::string subsystem;
};

struct follower {
  caf::response_promise promise;
  uint64_t after = 0;
  std::string prefix;
};

struct uevent_state {
  uevent_options opts;
  std::shared_ptr<uevent_io> io;
  runtime::uevent_table table;
  uevent_stats stats;
  std::deque<uevent_notice> history;
  uint64_t last_id = 0;
  std::map<uint64_t, subscription> subs;
  uint64_t next_sub = 1;
  std::map<caf::actor_addr, size_t> monitored;
  std::map<uint64_t, follower> followers;
  uint64_t next_follower = 1;
  std::set<std::string> pending_aliases;
  std::set<std::string> requested_aliases;
  bool modprobe_running = false;
  bool scan_running = false;
  uint64_t scan_from = 0;
  static inline const char* name = "uevent";
};

using uevent_actor = caf::stateful_actor<uevent_state>;

bool matches(const std::string& prefix, const uevent_notice& n) {
  return prefix.empty() || runtime::uevent_table::has_prefix(n.devpath, prefix) ||
         (!n.devpath_old.empty() && runtime::uevent_table::has_prefix(n.devpath_old, prefix));
}

/// The follow answer for `after` and `prefix` from the history.
uevent_follow_batch collect(const uevent_state& st, uint64_t after, const std::string& prefix) {
  uevent_follow_batch b;
  b.next = st.last_id;
  if (after >= st.last_id) {
    return b;
  }
  uint64_t oldest = st.history.empty() ? st.last_id + 1 : st.history.front().id;
  if (after + 1 < oldest) {
    b.missed = oldest - after - 1;
  }
  for (const auto& n : st.history) {
    if (n.id > after && matches(prefix, n)) {
      b.events.push_back(n);
    }
  }
  return b;
}

/// Answers every waiting follower that now has events.
void wake_followers(uevent_actor* self) {
  auto& st = self->state;
  for (auto it = st.followers.begin(); it != st.followers.end();) {
    auto b = collect(st, it->second.after, it->second.prefix);
    if (!b.events.empty() || b.missed > 0) {
      it->second.promise.deliver(std::move(b));
      it = st.followers.erase(it);
    } else {
      ++it;
    }
  }
}

/// Records an event: history, subscribers.
void publish(uevent_actor* self, uevent_notice n) {
  auto& st = self->state;
  n.id = ++st.last_id;
  for (const auto& [id, sub] : st.subs) {
    if (matches(sub.prefix, n) && (sub.subsystem.empty() || sub.subsystem == n.subsystem)) {
      self->send(sub.who, n);
    }
  }
  st.history.push_back(std::move(n));
  while (st.history.size() > st.opts.history) {
    st.history.pop_front();
  }
}

void start_modprobe(uevent_actor* self) {
  auto& st = self->state;
  if (st.modprobe_running || st.pending_aliases.empty()) {
    return;
  }
  std::vector<std::string> aliases;
  while (!st.pending_aliases.empty() && aliases.size() < st.opts.modprobe_batch) {
    aliases.push_back(*st.pending_aliases.begin());
    st.pending_aliases.erase(st.pending_aliases.begin());
  }
  st.modprobe_running = true;
  ++st.stats.modprobe_runs;
  st.stats.modprobe_aliases += aliases.size();
  if (st.io->modprobe.joinable()) {
    st.io->modprobe.join();  // the previous run, already finished
  }
  auto me = caf::actor{self};
  st.io->modprobe = runtime::guarded_thread(
      "uevent.modprobe",
      [path = st.opts.modprobe_path, aliases = std::move(aliases), me] {
        auto r = runtime::run_modprobe(path, aliases, modprobe_timeout);
        caf::anon_send(me, modprobe_done_atom::value, std::move(r), aliases.size());
      },
      exit_on_failure(me));
}

void handle_event(uevent_actor* self, runtime::uevent&& ev) {
  auto& st = self->state;
  if (ev.libudev) {
    // udevd's re-broadcast of an event the kernel sends us anyway.
    ++st.stats.ignored;
    return;
  }
  if (st.table.apply(ev) == runtime::uevent_table_change::ignored) {
    ++st.stats.ignored;
    return;
  }
  uevent_notice n;
  n.action = std::move(ev.action);
  n.devpath = std::move(ev.devpath);
  n.devpath_old = std::move(ev.devpath_old);
  n.subsystem = std::move(ev.subsystem);
  n.seqnum = ev.seqnum;
  n.properties = runtime::uevent_table::properties_of(ev);
  if (st.opts.modprobe && n.action == "add") {
    auto alias = n.properties.find("modalias");
    if (alias != n.properties.end() && !alias->second.empty() &&
        st.requested_aliases.insert(alias->second).second) {
      st.pending_aliases.insert(alias->second);
    }
  }
  publish(self, std::move(n));
}

void start_scan(uevent_actor* self) {
  auto& st = self->state;
  if (st.scan_running) {
    return;
  }
  st.scan_running = true;
  st.scan_from = st.last_id;
  if (st.io->scan.joinable()) {
    st.io->scan.join();
  }
  auto me = caf::actor{self};
  st.io->scan = runtime::guarded_thread(
      "uevent.scan",
      [sysfs = st.opts.sysfs, me] {
        auto found =
            std::make_shared<std::map<runtime::uevent_table::key, runtime::uevent_properties>>(
                runtime::scan_devices(sysfs));
        caf::anon_send(me, scanned_atom::value, scan_result{std::move(found)});
      },
      exit_on_failure(me));
}

/// Replaces the table by a re-scan (plus the events that arrived while it
/// ran) and tells subscribers what changed, as events marked `rescan`.
void finish_scan(uevent_actor* self,
                 std::map<runtime::uevent_table::key, runtime::uevent_properties>&& found) {
  auto& st = self->state;
  st.scan_running = false;
  ++st.stats.rescans;
  runtime::uevent_table fresh;
  fresh.replace(std::move(found));
  for (const auto& n : st.history) {
    if (n.id <= st.scan_from) {
      continue;
    }
    runtime::uevent ev;
    ev.action = n.action;
    ev.devpath = n.devpath;
    ev.devpath_old = n.devpath_old;
    for (const auto& [k, v] : n.properties) {
      ev.entries.emplace_back(k, v);
    }
    fresh.apply(ev);
  }
  std::vector<uevent_notice> changes;
  const auto& before = st.table.contents();
  const auto& after = fresh.contents();
  for (const auto& [key, props] : before) {
    if (after.count(key) == 0) {
      uevent_notice n;
      n.action = "remove";
      n.devpath = runtime::uevent_table::devpath_of(key);
      n.properties = props;
      changes.push_back(std::move(n));
    }
  }
  for (const auto& [key, props] : after) {
    auto old = before.find(key);
    if (old == before.end() || old->second != props) {
      uevent_notice n;
      n.action = old == before.end() ? "add" : "change";
      n.devpath = runtime::uevent_table::devpath_of(key);
      n.properties = props;
      changes.push_back(std::move(n));
    }
  }
  st.table = std::move(fresh);
  if (worth_logging(st.stats.rescans)) {
    log()->warn("uevent: re-scan #{} of {}/devices after lost events: {} devices, {} differences",
                st.stats.rescans, st.opts.sysfs, st.table.size(), changes.size());
  }
  for (auto& n : changes) {
    auto sub = n.properties.find("subsystem");
    if (sub != n.properties.end()) {
      n.subsystem = sub->second;
    }
    n.rescan = true;
    publish(self, std::move(n));
  }
  wake_followers(self);
}

void handle_batch(uevent_actor* self, reader_batch&& batch) {
  auto& st = self->state;
  auto& s = st.stats;
  s.received += batch.received;
  s.ignored += batch.foreign;
  for (auto& [code, detail] : batch.errors) {
    ++s.malformed;
    ++s.malformed_by_reason[runtime::to_string(code)];
    s.last_malformed = runtime::to_string(code) + ": " + detail;
    if (worth_logging(s.malformed)) {
      log()->warn("uevent: malformed message #{} ignored: {}", s.malformed, s.last_malformed);
    }
  }
  if (!batch.read_error.empty()) {
    ++s.read_errors;
    if (worth_logging(s.read_errors)) {
      log()->error("uevent: {} (retrying in a second)", batch.read_error);
    }
  }
  s.parsed += batch.events.size();
  for (auto& ev : batch.events) {
    handle_event(self, std::move(ev));
  }
  if (batch.enobufs > 0) {
    auto before = s.enobufs;
    s.enobufs += batch.enobufs;
    if (worth_logging(before + 1)) {
      log()->warn(
          "uevent: the socket overflowed (ENOBUFS, {} times so far): events were lost; "
          "re-scanning {}/devices (raise uevent.rcvbuf if this repeats)",
          s.enobufs, st.opts.sysfs);
    }
    start_scan(self);
  }
  wake_followers(self);
  start_modprobe(self);
}

void forget_subscriber(uevent_actor* self, const caf::actor_addr& who) {
  auto& st = self->state;
  for (auto it = st.subs.begin(); it != st.subs.end();) {
    it = it->second.who.address() == who ? st.subs.erase(it) : std::next(it);
  }
  st.monitored.erase(who);
}

uevent_stats stats_of(const uevent_state& st) {
  auto s = st.stats;
  s.table_size = st.table.size();
  s.subscribers = st.subs.size();
  s.followers = st.followers.size();
  s.cursor = st.last_id;
  return s;
}

caf::behavior uevent_behavior(uevent_actor* self) {
  self->set_down_handler([self](caf::down_msg& msg) { forget_subscriber(self, msg.source); });
  return {
      [self](batch_atom, reader_batch& batch) { handle_batch(self, std::move(batch)); },
      [self](uevent_get_atom, const std::string& prefix) {
        uevent_snapshot snap;
        for (const auto& row : self->state.table.with_prefix(prefix)) {
          snap.devices.push_back(uevent_device{row.devpath, *row.properties});
        }
        snap.stats = stats_of(self->state);
        return snap;
      },
      [self](uevent_stats_atom) { return stats_of(self->state); },
      [self](uevent_subscribe_atom, const std::string& prefix,
             const std::string& subsystem) -> caf::result<uint64_t> {
        auto who = caf::actor_cast<caf::actor>(self->current_sender());
        if (!who) {
          return caf::make_error(caf::sec::invalid_argument,
                                 "uevent: subscribing needs a sender to deliver to");
        }
        auto& st = self->state;
        auto id = st.next_sub++;
        if (st.monitored[who.address()]++ == 0) {
          self->monitor(who);
        }
        st.subs[id] = subscription{who, prefix, subsystem};
        return id;
      },
      [self](uevent_unsubscribe_atom, uint64_t id) {
        auto& st = self->state;
        auto it = st.subs.find(id);
        if (it == st.subs.end()) {
          return;
        }
        auto who = it->second.who;
        st.subs.erase(it);
        auto m = st.monitored.find(who.address());
        if (m != st.monitored.end() && --m->second == 0) {
          self->demonitor(who);
          st.monitored.erase(m);
        }
      },
      [self](uevent_follow_atom, uint64_t after, const std::string& prefix, uint32_t wait_ms) {
        auto& st = self->state;
        auto rp = self->make_response_promise();
        if (after == from_now || after > st.last_id) {
          after = st.last_id;
        }
        auto b = collect(st, after, prefix);
        if (!b.events.empty() || b.missed > 0 || wait_ms == 0) {
          rp.deliver(std::move(b));
          return rp;
        }
        auto token = st.next_follower++;
        st.followers[token] = follower{rp, after, prefix};
        self_timer(self, std::chrono::milliseconds{wait_ms}, wake_atom::value, token);
        return rp;
      },
      [self](wake_atom, uint64_t token) {
        auto& st = self->state;
        auto it = st.followers.find(token);
        if (it != st.followers.end()) {
          uevent_follow_batch b;
          b.next = st.last_id;
          it->second.promise.deliver(std::move(b));
          st.followers.erase(it);
        }
      },
      [self](modprobe_done_atom, runtime::modprobe_result& r, size_t aliases) {
        auto& st = self->state;
        st.modprobe_running = false;
        st.stats.modprobe_last = r.outcome;
        if (!r.ok) {
          ++st.stats.modprobe_failures;
          log()->warn("uevent: {} for {} aliases: {}", st.opts.modprobe_path, aliases, r.outcome);
        } else {
          log()->debug("uevent: modprobe of {} aliases done{}", aliases,
                       r.unmatched ? " (some have no module)" : "");
        }
        start_modprobe(self);
      },
      [self](modules_done_atom, runtime::modprobe_result& r) {
        auto& st = self->state;
        std::string names;
        for (const auto& m : st.opts.modules) {
          names += (names.empty() ? "" : ", ") + m;
        }
        if (r.ok) {
          st.stats.modules_result = "loaded";
          log()->info("uevent: loaded modules {}", names);
        } else {
          st.stats.modules_result = r.outcome;
          log()->error("uevent: modules {} (uevent.modules): {}", names, r.outcome);
        }
      },
      [self](coldplug_done_atom, runtime::coldplug_result& r) {
        auto& st = self->state;
        st.stats.coldplug_written = r.written;
        st.stats.coldplug_failed = r.failed;
        if (r.failed > 0) {
          log()->warn("uevent: coldplug wrote {} uevent files, {} failed (first: {})", r.written,
                      r.failed, r.error);
        } else {
          log()->info("uevent: coldplug wrote {} uevent files", r.written);
        }
      },
      [self](scanned_atom, scan_result& found) { finish_scan(self, std::move(*found)); },
  };
}

}  // namespace

uevent_options uevent_options_from(const runtime::config& cfg, bool pid1) {
  auto mode = [&](const char* key) {
    auto v = cfg.get_string(key);
    return v == "on" || (v == "auto" && pid1);
  };
  uevent_options o;
  o.enabled = cfg.get_bool("uevent.enabled");
  o.rcvbuf = static_cast<int>(cfg.get_int("uevent.rcvbuf"));
  o.coldplug = mode("uevent.coldplug");
  o.modprobe = mode("uevent.modprobe");
  o.modprobe_path = cfg.get_string("uevent.modprobe_path");
  o.modules = cfg.get_list("uevent.modules");
  o.sysfs = cfg.get_string("uevent.sysfs");
  return o;
}

supervisors::start_fn uevent_start(uevent_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto io = std::make_shared<uevent_io>();
    uevent_stats stats;
    if (!opts.enabled) {
      stats.unavailable = "disabled (uevent.enabled = false)";
    } else {
      io->fd = open_socket(opts, stats.rcvbuf, stats.unavailable);
      if (io->fd >= 0) {
        io->stop_fd = ::eventfd(0, EFD_CLOEXEC);
        if (io->stop_fd < 0) {
          stats.unavailable = std::string{"eventfd: "} + std::strerror(errno);
          ::close(io->fd);
          io->fd = -1;
        }
      }
    }
    stats.available = io->fd >= 0;
    auto self = sys.spawn([opts, io, stats](uevent_actor* self) {
      self->state.opts = opts;
      self->state.io = io;
      self->state.stats = stats;
      return uevent_behavior(self);
    });
    self->attach_functor([io] { io->stop(); });
    auto relay = std::make_shared<failure_relay>();
    if (io->fd >= 0) {
      io->reader = runtime::guarded_thread(
          "uevent.read",
          [fd = io->fd, stop_fd = io->stop_fd, foreign = opts.accept_foreign, self] {
            read_loop(fd, stop_fd, foreign, self);
          },
          failure_relay::handler(relay));
      log()->info("uevent: listening (receive buffer {} bytes{}{})", stats.rcvbuf,
                  opts.coldplug ? ", coldplug" : "", opts.modprobe ? ", modprobe" : "");
      if (opts.coldplug) {
        // After the socket is up, so that no add event of the coldplug is missed.
        io->coldplug = runtime::guarded_thread(
            "uevent.coldplug",
            [sysfs = opts.sysfs, me = self] {
              caf::anon_send(me, coldplug_done_atom::value, runtime::coldplug(sysfs));
            },
            failure_relay::handler(relay));
      }
    } else {
      log()->warn("uevent: unavailable: {}", stats.unavailable);
    }
    if (!opts.modules.empty()) {
      // Asked for by name, so loaded whether or not the socket is up.
      io->modules = runtime::guarded_thread(
          "uevent.modules",
          [path = opts.modprobe_path, modules = opts.modules, me = self] {
            caf::anon_send(me, modules_done_atom::value,
                           runtime::load_modules(path, modules, modprobe_timeout));
          },
          failure_relay::handler(relay));
    }
    relay->arm(self);
    register_service(sys, uevent_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
