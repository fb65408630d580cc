// The net service actor: property table, subscriptions, interface
// configuration, udhcpc supervision, internet checks and the node name.
#include "myelin/actors/net.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "myelin/actors/registry.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/net/connectivity.hpp"
#include "myelin/runtime/net/dhcp_event.hpp"
#include "myelin/runtime/net/net_errc.hpp"
#include "myelin/runtime/net/net_properties.hpp"
#include "myelin/runtime/net/rtnetlink.hpp"
#include "myelin/runtime/net/udhcpc_client.hpp"
#include "myelin/runtime/platform/thread_name.hpp"
#include "net/net_watcher.hpp"

namespace myelin::actors {

namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

using net_tick_atom = caf::atom_constant<caf::atom("nettick")>;
using net_check_atom = caf::atom_constant<caf::atom("netcheck")>;
using net_check_tick_atom = caf::atom_constant<caf::atom("netchktick")>;
using net_restart_atom = caf::atom_constant<caf::atom("netrestart")>;

/// How often the service looks whether a udhcpc has died.
constexpr milliseconds dhcp_poll_interval{200};

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("net");
  return l ? l : spdlog::default_logger();
}

std::string join(const std::vector<std::string>& items, const char* sep = " ") {
  std::string out;
  for (const auto& s : items) {
    out += (out.empty() ? "" : sep) + s;
  }
  return out;
}

/// The lease myelin applied for one DHCP interface.
struct dhcp_lease {
  std::string ip;
  int prefix = 0;
  std::string router;
  std::vector<std::string> dns;
};

/// One DHCP interface: its udhcpc and what it last reported.
struct dhcp_slot {
  std::unique_ptr<runtime::udhcpc_client> client;
  /// starting | restarting | stopped | deconfig | bound | renew | leasefail | nak
  std::string state = "stopped";
  dhcp_lease lease;
  /// The lease is one of a udhcpc that died: the new one's first deconfig
  /// (udhcpc's start ritual) keeps it; its bound replaces it, a failure drops it.
  bool kept = false;
  /// Deaths since the last lease: each doubles the restart delay (up to 30 s).
  int deaths = 0;
};

/// The delay before restarting a udhcpc that died `deaths` times in a row.
milliseconds restart_delay(milliseconds base, int deaths) {
  auto d = base;
  for (int i = 1; i < deaths && d < std::chrono::seconds{30}; ++i) {
    d *= 2;
  }
  return std::min<milliseconds>(d, std::chrono::seconds{30});
}

struct subscription {
  caf::actor who;
  std::string prefix;
};

struct net_state {
  net_options opts;
  std::string status = "ok";
  /// For configuration requests (the watcher thread has its own sockets).
  std::unique_ptr<runtime::rtnetlink> nl;
  runtime::net_snapshot snap;
  /// Configured interfaces present in the last snapshot (configured on appearance).
  std::set<std::string> present;
  /// Last configuration error per configured interface.
  std::map<std::string, std::string> errors;
  /// Links whose last internet check succeeded.
  std::vector<std::string> internet;
  /// An internet check is under way; another is wanted once it is done.
  bool checking = false;
  bool recheck = false;
  /// Runs the blocking TCP checks (a detached actor, spawned on first use).
  caf::actor checker;
  /// Fired when the service stops: a check under way gives up at once, so
  /// that stopping (and the reboot after it) never waits for a connect or a
  /// DNS lookup to time out.
  std::shared_ptr<runtime::stop_signal> check_stop = std::make_shared<runtime::stop_signal>();
  std::map<std::string, dhcp_slot> dhcp;
  /// A udhcpc liveness tick is scheduled.
  bool ticking = false;
  /// <state>/net/udhcpc-script and its FIFO; empty when DHCP is not possible.
  std::string script;
  std::string fifo;
  runtime::property_table table;
  std::vector<subscription> subs;
  /// Subscribers monitored (once each, however many prefixes they watch).
  std::set<caf::actor_addr> monitored;
  /// The node name last announced.
  std::string node_name;
  /// The reader thread (rtnetlink events, the FIFO).
  std::unique_ptr<net_watcher> watcher;

  net_state() = default;
  net_state(const net_state&) = delete;
  net_state& operator=(const net_state&) = delete;
  ~net_state() {
    // udhcpc first (its release event may still reach the FIFO), then the thread.
    dhcp.clear();
    watcher.reset();
    if (checker) {
      check_stop->fire();
      caf::anon_send_exit(checker, caf::exit_reason::user_shutdown);
    }
  }

  static inline const char* name = "net";
};

using net_actor = caf::stateful_actor<net_state>;

std::vector<std::string> configured_names(const net_options& o) {
  std::vector<std::string> out;
  for (const auto& ic : o.config.interfaces) {
    out.push_back(ic.name);
  }
  return out;
}

/// Creates <dir>/dhcp-events (a FIFO, opened for reading) and
/// <dir>/udhcpc-script; returns the FIFO's fd.
caf::expected<int> prepare_dhcp_files(const std::string& dir, std::string& script,
                                      std::string& fifo) {
  auto fail = [](const std::string& what) {
    return runtime::make_error(runtime::net_errc::spawn_failed, what + ": " + std::strerror(errno));
  };
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return runtime::make_error(runtime::net_errc::spawn_failed,
                               "cannot create " + dir + ": " + ec.message());
  }
  ::chmod(dir.c_str(), 0700);
  fifo = (fs::path{dir} / "dhcp-events").string();
  script = (fs::path{dir} / "udhcpc-script").string();
  if (fifo.find('\'') != std::string::npos) {
    return runtime::make_error(runtime::net_errc::spawn_failed,
                               "the state directory " + dir + " contains a single quote");
  }
  ::unlink(fifo.c_str());
  if (::mkfifo(fifo.c_str(), 0600) != 0) {
    return fail("mkfifo " + fifo);
  }
  // Read-write: the FIFO never reports end of file between two writers.
  int fd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    return fail("open " + fifo);
  }
  auto tmp = script + ".tmp";
  {
    std::ofstream out{tmp, std::ios::trunc};
    out << runtime::udhcpc_script(fifo);
    if (!out) {
      ::close(fd);
      return fail("write " + tmp);
    }
  }
  if (::chmod(tmp.c_str(), 0700) != 0 || ::rename(tmp.c_str(), script.c_str()) != 0) {
    ::close(fd);
    return fail("install " + script);
  }
  return fd;
}

void publish(net_actor* self, const std::vector<runtime::property_change>& changes) {
  for (const auto& c : changes) {
    for (const auto& s : self->state.subs) {
      if (runtime::property_matches(s.prefix, c.name)) {
        self->send(s.who, net_change_atom::value, c);
      }
    }
  }
}

/// Computes every property from what the service knows and publishes the changes.
void recompute(net_actor* self) {
  auto& st = self->state;
  const auto& cfg = st.opts.config;
  auto props = runtime::link_properties(st.snap, configured_names(st.opts), st.internet,
                                        cfg.primary_interfaces);
  for (const auto& ic : cfg.interfaces) {
    auto p = "interface/" + ic.name + "/";
    props[p + "method"] = runtime::to_string(ic.method);
    if (auto e = st.errors.find(ic.name); e != st.errors.end() && !e->second.empty()) {
      props[p + "error"] = e->second;
    }
  }
  for (const auto& [name, slot] : st.dhcp) {
    auto p = "interface/" + name + "/";
    props[p + "dhcp"] = slot.state;
    if (!slot.lease.dns.empty()) {
      props[p + "dns"] = join(slot.lease.dns);
    }
  }
  auto node = runtime::node_name(cfg.node_name_prefix,
                                 runtime::primary_address(st.snap, cfg.primary_interfaces));
  props["node_name"] = node;
  if (node != st.node_name) {
    st.node_name = node;
    log()->info("net: node name is {}", node);
  }
  publish(self, st.table.replace("", props));
}

void note_error(net_actor* self, const std::string& ifname, const caf::error& err) {
  if (err) {
    auto text = runtime::describe(err);
    log()->error("net: {}: {}", ifname, text);
    self->state.errors[ifname] = text;
  }
}

void schedule_tick(net_actor* self) {
  if (!self->state.ticking) {
    self->state.ticking = true;
    self_timer(self, dhcp_poll_interval, net_tick_atom::value);
  }
}

void start_dhcp(net_actor* self, const std::string& ifname) {
  auto& st = self->state;
  auto& slot = st.dhcp[ifname];
  if (st.fifo.empty()) {
    slot.state = "unavailable";
    return;
  }
  slot.client = std::make_unique<runtime::udhcpc_client>(st.opts.config.udhcpc, ifname, st.script);
  slot.kept = !slot.lease.ip.empty();
  slot.client->request_ip(slot.lease.ip);
  if (auto err = slot.client->start()) {
    // Not startable (not found, not executable: the error says which): tried
    // again with the back-off of a udhcpc that dies.
    note_error(self, ifname, err);
    slot.client.reset();
    slot.state = "stopped";
    auto delay = restart_delay(st.opts.config.dhcp_restart_delay, ++slot.deaths);
    self_timer(self, delay, net_restart_atom::value, ifname);
    recompute(self);
    return;
  }
  log()->info("net: {}: udhcpc started (pid {})", ifname, slot.client->pid());
  slot.state = "starting";
  schedule_tick(self);
}

/// Applies an interface's configuration (when it appears).
void configure(net_actor* self, const runtime::interface_config& ic) {
  auto& st = self->state;
  st.errors.erase(ic.name);
  if (ic.up) {
    note_error(self, ic.name, st.nl->set_link_up(ic.name, true));
  }
  if (ic.method == runtime::address_method::static_ipv4) {
    note_error(self, ic.name, st.nl->add_ipv4(ic.name, ic.address, ic.prefix));
    if (!ic.gateway.empty()) {
      note_error(self, ic.name, st.nl->add_default_route(ic.name, ic.gateway));
    }
    log()->info("net: {}: static {}/{}{}", ic.name, ic.address, ic.prefix,
                ic.gateway.empty() ? "" : " via " + ic.gateway);
  } else if (ic.method == runtime::address_method::dhcp) {
    start_dhcp(self, ic.name);
  }
}

std::vector<std::string> connectable(const runtime::net_snapshot& snap) {
  std::vector<std::string> out;
  for (const auto& l : snap.links) {
    if (runtime::link_can_connect(l)) {
      out.push_back(l.name + "=" + l.ipv4.front());
    }
  }
  return out;
}

void run_check(net_actor* self) {
  auto& st = self->state;
  const auto& cfg = st.opts.config;
  if (cfg.internet_hosts.empty()) {
    return;
  }
  if (st.checking) {
    st.recheck = true;
    return;
  }
  std::vector<std::string> names;
  std::vector<std::string> sources;
  for (const auto& l : st.snap.links) {
    if (runtime::link_can_connect(l)) {
      names.push_back(l.name);
      sources.push_back(l.ipv4.front());
    }
  }
  if (names.empty()) {
    if (!st.internet.empty()) {
      st.internet.clear();
      recompute(self);
    }
    return;
  }
  if (!st.checker) {
    st.checker =
        self->spawn<caf::detached>([hosts = cfg.internet_hosts, timeout = cfg.check_timeout,
                                    stop = st.check_stop]() -> caf::behavior {
          runtime::name_this_thread("net.check");
          return {[hosts, timeout, stop](net_check_atom, const std::vector<std::string>& names,
                                         const std::vector<std::string>& sources) {
            std::vector<std::string> ok;
            for (size_t i = 0; i < names.size() && i < sources.size(); ++i) {
              if (runtime::tcp_check(hosts, timeout, names[i], sources[i], stop.get())) {
                ok.push_back(names[i]);
              }
            }
            return ok;
          }};
        });
  }
  st.checking = true;
  auto limit = cfg.check_timeout * static_cast<int64_t>(cfg.internet_hosts.size() * names.size()) +
               std::chrono::seconds{30};
  self->request(st.checker, limit, net_check_atom::value, names, sources)
      .then(
          [self](const std::vector<std::string>& ok) {
            auto& st = self->state;
            st.checking = false;
            if (ok != st.internet) {
              for (const auto& name : ok) {
                if (std::find(st.internet.begin(), st.internet.end(), name) == st.internet.end()) {
                  log()->info("net: {}: internet reachable", name);
                }
              }
              st.internet = ok;
              recompute(self);
            }
            if (st.recheck) {
              st.recheck = false;
              run_check(self);
            }
          },
          [self](const caf::error& err) {
            self->state.checking = false;
            log()->warn("net: internet check failed: {}", caf::to_string(err));
          });
}

void on_snapshot(net_actor* self, runtime::net_snapshot snap) {
  auto& st = self->state;
  auto before = connectable(st.snap);
  st.snap = std::move(snap);
  bool configured = false;
  for (const auto& ic : st.opts.config.interfaces) {
    bool now = st.snap.find(ic.name) != nullptr;
    bool was = st.present.count(ic.name) != 0;
    if (now && !was) {
      st.present.insert(ic.name);
      configure(self, ic);
      configured = true;
    } else if (!now && was) {
      st.present.erase(ic.name);
      log()->warn("net: {}: gone", ic.name);
      if (auto i = st.dhcp.find(ic.name); i != st.dhcp.end()) {
        i->second.client.reset();
        i->second.state = "stopped";
        i->second.lease = {};
      }
    }
  }
  if (configured) {
    // What was just configured shows at once, not one event later.
    if (auto fresh = st.nl->snapshot()) {
      st.snap = std::move(*fresh);
    }
  }
  // Links that lost their connection lose their internet result at once.
  std::vector<std::string> still;
  for (const auto& name : st.internet) {
    const auto* l = st.snap.find(name);
    if (l != nullptr && runtime::link_can_connect(*l)) {
      still.push_back(name);
    }
  }
  st.internet = std::move(still);
  recompute(self);
  if (connectable(st.snap) != before) {
    run_check(self);
  }
}

void on_dhcp_line(net_actor* self, const std::string& line) {
  auto& st = self->state;
  auto ev = runtime::parse_dhcp_event(line);
  if (!ev) {
    log()->warn("net: {}", runtime::describe(ev.error()));
    return;
  }
  auto i = st.dhcp.find(ev->interface);
  if (i == st.dhcp.end()) {
    log()->warn("net: udhcpc event for {}, which is not a DHCP interface; ignored", ev->interface);
    return;
  }
  auto& slot = i->second;
  const auto& ifname = ev->interface;
  if (ev->kind == "bound" || ev->kind == "renew") {
    auto router = ev->routers.empty() ? std::string{} : ev->routers.front();
    if (!slot.lease.ip.empty() && (slot.lease.ip != ev->ip || slot.lease.prefix != ev->prefix)) {
      note_error(self, ifname, st.nl->remove_ipv4(ifname, slot.lease.ip, slot.lease.prefix));
    }
    st.errors.erase(ifname);
    note_error(self, ifname, st.nl->add_ipv4(ifname, ev->ip, ev->prefix));
    if (router != slot.lease.router || ev->kind == "bound") {
      if (!slot.lease.router.empty() || !router.empty()) {
        note_error(self, ifname, st.nl->remove_default_routes(ifname));
      }
      if (!router.empty()) {
        note_error(self, ifname, st.nl->add_default_route(ifname, router));
      }
    }
    slot.lease = dhcp_lease{ev->ip, ev->prefix, router, ev->dns};
    slot.kept = false;
    slot.deaths = 0;
    log()->info("net: {}: dhcp {} {}/{}{}, lease {} s", ifname, ev->kind, ev->ip, ev->prefix,
                router.empty() ? "" : " via " + router, ev->lease_s);
  } else if (ev->kind == "deconfig" && slot.kept) {
    log()->info("net: {}: new udhcpc, keeping {} until it has a lease", ifname, slot.lease.ip);
    slot.kept = false;
    slot.state = "starting";
    recompute(self);
    return;
  } else if (ev->kind == "deconfig" || slot.kept) {
    slot.kept = false;
    if (!slot.lease.ip.empty()) {
      note_error(self, ifname, st.nl->remove_ipv4(ifname, slot.lease.ip, slot.lease.prefix));
    }
    if (!slot.lease.router.empty()) {
      note_error(self, ifname, st.nl->remove_default_routes(ifname));
    }
    if (!slot.lease.ip.empty()) {
      log()->info("net: {}: dhcp {}, {} removed", ifname, ev->kind, slot.lease.ip);
    }
    slot.lease = {};
  }
  if (ev->kind == "leasefail" || ev->kind == "nak") {
    log()->warn("net: {}: dhcp {}", ifname, ev->kind);
  }
  slot.state = ev->kind;
  recompute(self);
}

caf::behavior net_behavior(net_actor* self, net_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  const auto& cfg = st.opts.config;
  std::unique_ptr<runtime::rtnetlink> watch_nl;
  auto nl = runtime::rtnetlink::open();
  if (nl) {
    auto nl2 = runtime::rtnetlink::open();
    if (nl2) {
      st.nl = std::move(*nl);
      watch_nl = std::move(*nl2);
    } else {
      nl = nl2.error();
    }
  }
  if (!nl) {
    st.status = "unavailable: " + runtime::describe(nl.error());
    log()->warn("net: {}", st.status);
  } else if (!st.opts.config_error.empty()) {
    st.status = "config error: " + st.opts.config_error;
    log()->error("net: configuration refused: {}; observing only", st.opts.config_error);
  }
  int fifo_fd = -1;
  bool wants_dhcp = std::any_of(cfg.interfaces.begin(), cfg.interfaces.end(), [](const auto& ic) {
    return ic.method == runtime::address_method::dhcp;
  });
  if (st.nl && wants_dhcp) {
    auto fd =
        prepare_dhcp_files((fs::path{st.opts.state_dir} / "net").string(), st.script, st.fifo);
    if (fd) {
      fifo_fd = *fd;
    } else {
      st.fifo.clear();
      log()->error("net: DHCP is not possible: {}", runtime::describe(fd.error()));
    }
  }
  for (const auto& ic : cfg.interfaces) {
    if (ic.method == runtime::address_method::dhcp) {
      st.dhcp[ic.name];
    }
  }
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subs;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const subscription& s) { return s.who.address() == dm.source; }),
               subs.end());
    self->state.monitored.erase(dm.source);
  });
  if (st.nl) {
    // The first state is read here, so the table is full once the service runs.
    if (auto snap = st.nl->snapshot()) {
      on_snapshot(self, std::move(*snap));
    } else {
      log()->warn("net: cannot read the network state: {}", runtime::describe(snap.error()));
      recompute(self);
    }
    st.watcher = std::make_unique<net_watcher>(std::move(watch_nl), fifo_fd,
                                               caf::actor_cast<caf::actor>(self));
  } else {
    recompute(self);
  }
  if (!cfg.internet_hosts.empty()) {
    self_timer(self, cfg.check_interval, net_check_tick_atom::value);
  }
  log()->info("net: {}; {} configured interface(s){}", st.status, cfg.interfaces.size(),
              cfg.interfaces.empty() ? " (observing only)" : "");
  return {
      [self](runtime::net_snapshot& snap) { on_snapshot(self, std::move(snap)); },
      [self](net_dhcp_atom, const std::string& line) { on_dhcp_line(self, line); },
      [self](net_get_atom, const std::string& prefix) -> net_properties {
        return self->state.table.get_by_prefix(prefix);
      },
      [self](net_subscribe_atom, const std::string& prefix) -> net_properties {
        auto who = caf::actor_cast<caf::actor>(self->current_sender());
        if (who) {
          if (self->state.monitored.insert(who.address()).second) {
            self->monitor(who);
          }
          self->state.subs.push_back(subscription{who, prefix});
        }
        return self->state.table.get_by_prefix(prefix);
      },
      [self](net_unsubscribe_atom, const std::string& prefix) {
        auto sender = self->current_sender();
        auto& subs = self->state.subs;
        subs.erase(std::remove_if(subs.begin(), subs.end(),
                                  [&](const subscription& s) {
                                    return s.who.address() == sender && s.prefix == prefix;
                                  }),
                   subs.end());
        return caf::unit;
      },
      [self](net_status_atom) {
        net_status s;
        s.status = self->state.status;
        s.node_name = self->state.node_name;
        s.configured = configured_names(self->state.opts);
        s.subscriptions = self->state.subs.size();
        return s;
      },
      [self](net_renew_atom, const std::string& ifname) -> caf::result<caf::unit_t> {
        auto i = self->state.dhcp.find(ifname);
        if (i == self->state.dhcp.end() || !i->second.client || i->second.client->pid() <= 0) {
          return runtime::make_error(runtime::net_errc::no_such_interface,
                                     "no udhcpc runs for '" + ifname + "'");
        }
        i->second.client->signal(SIGUSR1);
        return caf::unit;
      },
      [self](net_tick_atom) {
        auto& st = self->state;
        st.ticking = false;
        bool any = false;
        for (auto& [name, slot] : st.dhcp) {
          if (!slot.client) {
            continue;
          }
          if (auto status = slot.client->poll_exit()) {
            auto delay = restart_delay(st.opts.config.dhcp_restart_delay, ++slot.deaths);
            log()->warn("net: {}: udhcpc {}; starting it again in {} ms", name,
                        runtime::describe_wait_status(*status), delay.count());
            slot.client.reset();
            slot.state = "restarting";
            self_timer(self, delay, net_restart_atom::value, name);
            recompute(self);
          } else {
            any = true;
          }
        }
        if (any) {
          schedule_tick(self);
        }
      },
      [self](net_restart_atom, const std::string& ifname) {
        auto& st = self->state;
        auto i = st.dhcp.find(ifname);
        if (i != st.dhcp.end() && !i->second.client && st.present.count(ifname) != 0) {
          start_dhcp(self, ifname);
          recompute(self);
        }
      },
      [self](net_check_tick_atom) {
        run_check(self);
        self_timer(self, self->state.opts.config.check_interval, net_check_tick_atom::value);
      },
  };
}

}  // namespace

net_options net_options_from(const runtime::config& cfg, const std::string& state_dir) {
  net_options o;
  o.state_dir = state_dir;
  if (auto c = runtime::net_config_from(cfg)) {
    o.config = std::move(*c);
  } else {
    o.config_error = runtime::describe(c.error());
    o.config.node_name_prefix = cfg.get_string("device.name");
  }
  return o;
}

supervisors::start_fn net_start(net_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto self = sys.spawn([opts](net_actor* self) { return net_behavior(self, opts); });
    register_service(sys, net_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
