// The mdns service (see mdns.hpp).
#include "myelin/actors/mdns.hpp"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/actors/kv.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/registry.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/actors/thread_failure.hpp"
#include "myelin/runtime/kv/serial_number.hpp"
#include "myelin/runtime/mdns/mdns_socket.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/version.hpp"

namespace myelin::actors {

namespace {

namespace mdns = runtime::mdns;
namespace dns = runtime::dns;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("mdns");
  return l ? l : spdlog::default_logger();
}

inline constexpr caf::atom_value console_name = caf::atom("console");

/// What the reader thread answers from: replaced whole by the actor.
struct published {
  mdns::mdns_zone zone;
  std::map<int, std::vector<mdns::ipv4_address>> by_interface;
  /// Every address of ours, on any interface (never a conflict).
  std::vector<mdns::ipv4_address> all;
};

/// The socket and the reader thread; shared by the actor and its cleanup.
struct mdns_io {
  mdns::mdns_socket sock;
  int stop_fd = -1;
  std::thread reader;
  std::mutex mutex;
  std::shared_ptr<const published> snap = std::make_shared<published>();
  std::atomic<int64_t> queries{0};
  std::atomic<int64_t> answers{0};
  std::atomic<int64_t> malformed{0};

  std::shared_ptr<const published> current() {
    std::lock_guard<std::mutex> lock{mutex};
    return snap;
  }
  void publish(std::shared_ptr<const published> p) {
    std::lock_guard<std::mutex> lock{mutex};
    snap = std::move(p);
  }

  void stop() {
    if (stop_fd >= 0) {
      uint64_t one = 1;
      [[maybe_unused]] auto n = ::write(stop_fd, &one, sizeof(one));
    }
    if (reader.joinable()) {
      reader.join();
    }
    if (stop_fd >= 0) {
      ::close(stop_fd);
      stop_fd = -1;
    }
  }
  ~mdns_io() { stop(); }
};

/// One datagram: a query answered, a response checked for a conflict.
void handle(mdns_io& io, const mdns::mdns_socket::datagram& d, const caf::actor& owner,
            uint16_t mdns_port) {
  if (d.oversized) {
    io.malformed.fetch_add(1);
    return;
  }
  auto m = dns::parse(d.bytes.data(), d.bytes.size());
  if (!m) {
    if (io.malformed.fetch_add(1) < 5) {
      char ip[INET_ADDRSTRLEN] = {};
      ::inet_ntop(AF_INET, &d.from.sin_addr, ip, sizeof(ip));
      log()->debug("mdns: refused a packet from {}: {}", ip, runtime::describe(m.error()));
    }
    return;
  }
  auto snap = io.current();
  auto it = snap->by_interface.find(d.ifindex);
  if (it == snap->by_interface.end()) {
    return;  // not an interface we serve
  }
  if (m->is_response()) {
    if (auto other = mdns::conflicting_address(snap->zone, snap->all, *m)) {
      caf::anon_send(owner, mdns_conflict_atom::value, dns::format_ipv4(*other));
    }
    return;
  }
  io.queries.fetch_add(1);
  bool legacy = ntohs(d.from.sin_port) != mdns_port;
  auto reply = mdns::answer_query(snap->zone, it->second, *m, legacy);
  if (!reply) {
    return;
  }
  auto bytes = dns::serialize(reply->message);
  if (!bytes) {
    log()->warn("mdns: cannot write an answer: {}", runtime::describe(bytes.error()));
    return;
  }
  auto err = io.sock.send(*bytes, d.ifindex,
                          reply->route == mdns::reply_route::unicast ? &d.from : nullptr);
  if (err) {
    log()->debug("mdns: {}", runtime::describe(err));
    return;
  }
  io.answers.fetch_add(1);
}

void read_loop(mdns_io* io, caf::actor owner, uint16_t mdns_port) {
  for (;;) {
    pollfd fds[2] = {{io->sock.fd(), POLLIN, 0}, {io->stop_fd, POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno == EINTR) {
      continue;
    }
    if (rc < 0 || (fds[1].revents & POLLIN) != 0 || (fds[0].revents & POLLNVAL) != 0) {
      return;
    }
    // Bounded: the stop is seen during a flood.
    for (int i = 0; i < 256; ++i) {
      auto d = io->sock.receive();
      if (!d) {
        break;
      }
      handle(*io, *d, owner, mdns_port);
    }
  }
}

struct mdns_state {
  static inline const char* name = "mdns";
  mdns_options opts;
  std::shared_ptr<mdns_io> io;
  std::string socket_error;
  /// What the other services said, for the TXT record.
  std::string console_url;
  std::string serial;
  runtime::kv_map firmware;
  /// The interfaces of the last rescan.
  std::vector<mdns::mdns_interface> interfaces;
  std::map<int, std::string> joined;
  int64_t announcements = 0;
  int64_t conflicts = 0;
  std::string last_conflict;
  std::string logged_conflict;
  bool net_followed = false;
  bool rescan_queued = false;
  uint64_t round = 0;
  int pending = 0;
  uint64_t announce_generation = 0;
  bool warned_loopback = false;

  /// Goodbye on every interface, then the thread is stopped.
  ~mdns_state() {
    if (!io) {
      return;
    }
    auto snap = io->current();
    for (const auto& [index, addrs] : snap->by_interface) {
      if (addrs.empty()) {
        continue;
      }
      if (auto bytes = dns::serialize(mdns::announcement(snap->zone, addrs, true))) {
        io->sock.send(*bytes, index);
      }
    }
    io->stop();
  }
};

using self_ptr = caf::stateful_actor<mdns_state>*;

/// Opens the socket and starts the reader, unless it runs.
void ensure_socket(self_ptr self) {
  auto& st = self->state;
  if (st.io) {
    return;
  }
  auto sock = mdns::mdns_socket::open(st.opts.port);
  if (!sock) {
    auto why = runtime::describe(sock.error());
    if (why != st.socket_error) {
      log()->warn("mdns: cannot open UDP port {}: {} (trying again in {} s)", st.opts.port, why,
                  st.opts.rescan_s);
    }
    st.socket_error = why;
    return;
  }
  auto io = std::make_shared<mdns_io>();
  io->sock = std::move(*sock);
  io->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  auto owner = caf::actor_cast<caf::actor>(self);
  auto port = st.opts.port;
  auto* raw = io.get();
  io->reader = runtime::guarded_thread(
      "mdns.reader", [raw, owner, port] { read_loop(raw, owner, port); },
      // A reader that fails ends the service: its supervisor restarts it.
      exit_on_failure(owner));
  st.io = std::move(io);
  st.socket_error.clear();
}

std::string system_hostname() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) {
    return {};
  }
  std::string name = buf;
  // A fully qualified name announces its first label.
  return name.substr(0, name.find('.'));
}

/// The control port and scheme from the console's URL.
std::pair<uint16_t, bool> control_of(const std::string& url) {
  bool tls = url.rfind("https://", 0) == 0;
  auto colon = url.rfind(':');
  uint16_t port = 0;
  if (colon != std::string::npos && colon > 6) {
    try {
      port = static_cast<uint16_t>(std::stoul(url.substr(colon + 1)));
    } catch (...) {
      port = 0;
    }
  }
  return {port, tls};
}

mdns::mdns_zone make_zone(const mdns_state& st) {
  mdns::mdns_zone z;
  auto host = st.opts.hostname.empty() ? system_hostname() : st.opts.hostname;
  z.host = mdns::host_label(host);
  z.instance = st.opts.instance.empty() ? z.host : st.opts.instance;
  z.host_ttl = st.opts.ttl_s;
  auto [port, tls] = control_of(st.console_url);
  if (port == 0) {
    return z;  // no control channel (yet): the name only
  }
  mdns::mdns_service s;
  s.type = mdns::myelin_service;
  s.port = port;
  auto add = [&](const std::string& key, const std::string& value) {
    if (!value.empty()) {
      s.txt.push_back((key + "=" + value).substr(0, 255));
    }
  };
  add("serial", st.serial);
  auto fw = [&](const char* key) {
    auto it = st.firmware.find(key);
    return it == st.firmware.end() ? std::string{} : it->second;
  };
  add("product", fw("nerves_fw_product"));
  add("version", fw("nerves_fw_version"));
  add("platform", fw("nerves_fw_platform"));
  add("uuid", fw("nerves_fw_uuid"));
  add("myelin", runtime::version());
  add("tls", tls ? "1" : "0");
  z.services.push_back(std::move(s));
  return z;
}

bool same_zone(const mdns::mdns_zone& a, const mdns::mdns_zone& b) {
  if (a.host != b.host || a.instance != b.instance || a.services.size() != b.services.size() ||
      a.host_ttl != b.host_ttl) {
    return false;
  }
  for (size_t i = 0; i < a.services.size(); ++i) {
    if (a.services[i].type != b.services[i].type || a.services[i].port != b.services[i].port ||
        a.services[i].txt != b.services[i].txt) {
      return false;
    }
  }
  return true;
}

/// Sends the announcement out the interfaces in `indexes` (and schedules
/// the second one, RFC 6762 §8.3).
void announce(self_ptr self, const std::vector<int>& indexes, bool first) {
  auto& st = self->state;
  if (!st.io) {
    return;
  }
  auto snap = st.io->current();
  std::vector<int> sent;
  for (int index : indexes) {
    auto it = snap->by_interface.find(index);
    if (it == snap->by_interface.end() || it->second.empty()) {
      continue;
    }
    auto bytes = dns::serialize(mdns::announcement(snap->zone, it->second));
    if (!bytes) {
      log()->warn("mdns: cannot write the announcement: {}", runtime::describe(bytes.error()));
      return;
    }
    if (auto err = st.io->sock.send(*bytes, index)) {
      log()->debug("mdns: {}", runtime::describe(err));
      continue;
    }
    ++st.announcements;
    sent.push_back(index);
  }
  if (first && !sent.empty()) {
    self_timer(self, std::chrono::seconds{1}, mdns_announce_atom::value, ++st.announce_generation,
               sent);
  }
}

/// Publishes the zone and interfaces the last rescan found, announcing
/// where anything changed.
void apply(self_ptr self) {
  auto& st = self->state;
  if (!st.io) {
    return;
  }
  auto old = st.io->current();
  auto next = std::make_shared<published>();
  next->zone = make_zone(st);
  for (const auto& i : st.interfaces) {
    next->by_interface[i.index] = i.addresses;
    next->all.insert(next->all.end(), i.addresses.begin(), i.addresses.end());
  }
  bool zone_changed = !same_zone(old->zone, next->zone);
  std::vector<int> changed;
  for (const auto& [index, addrs] : next->by_interface) {
    auto it = old->by_interface.find(index);
    if (zone_changed || it == old->by_interface.end() || it->second != addrs) {
      changed.push_back(index);
    }
    if (it != old->by_interface.end() && it->second != addrs) {
      std::string list;
      for (const auto& a : addrs) {
        list += (list.empty() ? "" : ", ") + dns::format_ipv4(a);
      }
      auto name = std::find_if(st.interfaces.begin(), st.interfaces.end(),
                               [&](const mdns::mdns_interface& i) { return i.index == index; });
      log()->info("mdns: {} now has {}: announcing it", name->name,
                  list.empty() ? std::string{"no IPv4 address"} : list);
    }
  }
  if (zone_changed && !next->zone.host.empty() && next->zone.host != old->zone.host) {
    log()->info("mdns: announcing {} ({})", mdns::host_name(next->zone),
                next->zone.services.empty()
                    ? std::string{"no control channel yet"}
                    : "_myelin._tcp port " + std::to_string(next->zone.services[0].port));
  }
  // The old name's goodbye where it changed.
  if (zone_changed && !old->zone.host.empty() && old->zone.host != next->zone.host) {
    for (const auto& [index, addrs] : old->by_interface) {
      if (auto bytes = dns::serialize(mdns::announcement(old->zone, addrs, true))) {
        st.io->sock.send(*bytes, index);
      }
    }
  }
  st.io->publish(next);
  if (!changed.empty()) {
    announce(self, changed, true);
  }
}

/// Follows the net service (once it runs): any interface change rescans.
void follow_net(self_ptr self) {
  auto& st = self->state;
  if (st.net_followed) {
    return;
  }
  auto net = self->system().registry().get<caf::actor>(net_registry_name);
  if (!net) {
    return;
  }
  st.net_followed = true;
  self->monitor(net);
  self->request(net, std::chrono::seconds{5}, net_subscribe_atom::value, std::string{"interface/"})
      .then([](const net_properties&) {},
            [self](caf::error&) { self->state.net_followed = false; });
}

void rescan(self_ptr self) {
  auto& st = self->state;
  st.rescan_queued = false;
  ensure_socket(self);
  follow_net(self);
  st.interfaces = mdns::multicast_interfaces(st.opts.interfaces);
  if (st.io) {
    std::map<int, std::string> now;
    for (const auto& i : st.interfaces) {
      // Joined again each time: a membership the kernel dropped with a
      // vanished interface is made anew; an existing one is kept.
      if (auto err = st.io->sock.join(i.index)) {
        log()->warn("mdns: {}", runtime::describe(err));
        continue;
      }
      if (st.joined.count(i.index) == 0) {
        log()->debug("mdns: listening on {}", i.name);
      }
      now[i.index] = i.name;
    }
    for (const auto& [index, name] : st.joined) {
      if (now.count(index) == 0) {
        st.io->sock.leave(index);
      }
    }
    st.joined = std::move(now);
  }
  // The facts of the TXT record, then the zone.
  auto round = ++st.round;
  st.pending = 3;
  auto done = [self, round] {
    if (self->state.round == round && --self->state.pending == 0) {
      apply(self);
    }
  };
  auto& reg = self->system().registry();
  if (auto console = reg.get<caf::actor>(console_name)) {
    self->request(console, std::chrono::seconds{5}, caf::get_atom::value)
        .then(
            [self, done](const std::string& url) {
              auto& s = self->state;
              if (url != s.console_url && url.find("://127.") != std::string::npos &&
                  !s.warned_loopback) {
                log()->warn(
                    "mdns: the control channel listens on loopback only ({}): the "
                    "announced port is not reachable from the LAN (control.address)",
                    url);
                s.warned_loopback = true;
              }
              s.console_url = url;
              done();
            },
            [done](caf::error&) { done(); });
  } else {
    done();
  }
  if (auto kv = reg.get<caf::actor>(kv_registry_name)) {
    self->request(kv, std::chrono::seconds{5}, serial_atom::value)
        .then(
            [self, done](const runtime::serial_result& s) {
              self->state.serial = s.value;
              done();
            },
            [done](caf::error&) { done(); });
    self->request(kv, std::chrono::seconds{5}, kv_get_all_active_atom::value)
        .then(
            [self, done](const runtime::kv_map& m) {
              self->state.firmware = m;
              done();
            },
            [done](caf::error&) { done(); });
  } else {
    done();
    done();
  }
}

void queue_rescan(self_ptr self, std::chrono::milliseconds delay) {
  if (self->state.rescan_queued) {
    return;
  }
  self->state.rescan_queued = true;
  self_timer(self, delay, mdns_rescan_atom::value, uint64_t{0});
}

mdns_status status_of(const mdns_state& st) {
  mdns_status s;
  s.enabled = true;
  s.state = st.io ? "ok" : "unavailable: " + st.socket_error;
  s.announcements = st.announcements;
  s.conflicts = st.conflicts;
  s.last_conflict = st.last_conflict;
  if (st.io) {
    auto snap = st.io->current();
    s.host = snap->zone.host.empty() ? std::string{} : mdns::host_name(snap->zone);
    s.instance = snap->zone.instance;
    if (!snap->zone.services.empty()) {
      s.port = snap->zone.services[0].port;
      s.txt = snap->zone.services[0].txt;
    }
    s.queries = st.io->queries.load();
    s.answers = st.io->answers.load();
    s.malformed = st.io->malformed.load();
  }
  for (const auto& i : st.interfaces) {
    std::string line = i.name;
    if (i.addresses.empty()) {
      line += " (no IPv4 address)";
    }
    for (const auto& a : i.addresses) {
      line += " " + dns::format_ipv4(a);
    }
    s.interfaces.push_back(line);
  }
  return s;
}

}  // namespace

mdns_options mdns_options_from(const runtime::config& cfg, bool device_pid1) {
  mdns_options o;
  auto enabled = cfg.get_string("mdns.enabled");
  o.enabled = enabled == "on" || (enabled == "auto" && device_pid1);
  o.hostname = cfg.get_string("mdns.hostname");
  o.instance = cfg.get_string("mdns.instance");
  o.interfaces = cfg.get_list("mdns.interfaces");
  o.ttl_s = static_cast<uint32_t>(cfg.get_int("mdns.ttl_s"));
  o.rescan_s = cfg.get_int("mdns.rescan_s");
  return o;
}

supervisors::start_fn mdns_start(mdns_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto self = sys.spawn([opts](caf::stateful_actor<mdns_state>* self) -> caf::behavior {
      self->state.opts = opts;
      if (!opts.enabled) {
        return {
            [](mdns_status_atom) {
              mdns_status s;
              s.state = "off";
              return s;
            },
        };
      }
      rescan(self);
      self_timer(self, std::chrono::seconds{opts.rescan_s}, mdns_rescan_atom::value, uint64_t{1});
      self->set_down_handler([self](caf::down_msg&) {
        // The net service we follow ended: its successor is followed at the
        // next rescan, in a second.
        self->state.net_followed = false;
        queue_rescan(self, std::chrono::seconds{1});
      });
      return {
          [self](mdns_rescan_atom, uint64_t periodic) {
            if (periodic != 0) {
              self_timer(self, std::chrono::seconds{self->state.opts.rescan_s},
                         mdns_rescan_atom::value, uint64_t{1});
            }
            rescan(self);
          },
          [self](mdns_announce_atom, uint64_t generation, const std::vector<int>& indexes) {
            if (generation == self->state.announce_generation) {
              announce(self, indexes, false);
            }
          },
          [self](net_change_atom, const runtime::property_change& change) {
            log()->debug("mdns: {} is now '{}'", change.name, change.new_value);
            // A burst of changes (a DHCP lease: address, gateway, dns) is one
            // rescan.
            queue_rescan(self, std::chrono::milliseconds{100});
          },
          [self](mdns_conflict_atom, const std::string& address) {
            auto& st = self->state;
            ++st.conflicts;
            auto snap = st.io ? st.io->current() : nullptr;
            st.last_conflict =
                address + " claims " + (snap ? mdns::host_name(snap->zone) : std::string{});
            if (st.last_conflict != st.logged_conflict) {
              log()->warn(
                  "mdns: name conflict: {} (another device has our name; set "
                  "mdns.hostname or pid1.hostname_pattern)",
                  st.last_conflict);
              st.logged_conflict = st.last_conflict;
            }
          },
          [self](mdns_status_atom) { return status_of(self->state); },
      };
    });
    register_service(sys, mdns_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
