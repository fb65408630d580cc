// The control channel's uevent routes: the device table, the stats, and a long
// poll that `myelin uevent --follow` loops on (decision 0032).
#include "uevent/console_uevent.hpp"
#include <atomic>

#include <charconv>
#include <chrono>

#include <httplib.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/uevent.hpp"
#include "myelin/runtime/uevent/uevent_parser.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;

/// Longest wait of one follow request: below the CLI's 30 s read timeout.
constexpr uint32_t max_wait_ms = 25000;
constexpr uint32_t default_wait_ms = 10000;
/// Long-polls that may wait at once: each holds one of the console's HTTP
/// threads; beyond this, a follow answers at once (possibly empty).
constexpr int max_follow_waiters = 2;
std::atomic<int> follow_waiters{0};

json stats_json(const uevent_stats& s) {
  return {{"available", s.available},
          {"unavailable", s.unavailable},
          {"rcvbuf", s.rcvbuf},
          {"received", s.received},
          {"parsed", s.parsed},
          {"malformed", s.malformed},
          {"malformed_by_reason", s.malformed_by_reason},
          {"last_malformed", s.last_malformed},
          {"ignored", s.ignored},
          {"enobufs", s.enobufs},
          {"rescans", s.rescans},
          {"read_errors", s.read_errors},
          {"table_size", s.table_size},
          {"subscribers", s.subscribers},
          {"followers", s.followers},
          {"modprobe_runs", s.modprobe_runs},
          {"modprobe_aliases", s.modprobe_aliases},
          {"modprobe_failures", s.modprobe_failures},
          {"modprobe_last", s.modprobe_last},
          {"modules_result", s.modules_result},
          {"coldplug_written", s.coldplug_written},
          {"coldplug_failed", s.coldplug_failed},
          {"cursor", s.cursor}};
}

json notice_json(const uevent_notice& n) {
  json j = {{"id", n.id},           {"action", n.action},
            {"devpath", n.devpath}, {"subsystem", n.subsystem},
            {"seqnum", n.seqnum},   {"properties", n.properties}};
  if (!n.devpath_old.empty()) {
    j["devpath_old"] = n.devpath_old;
  }
  if (n.rescan) {
    j["rescan"] = true;
  }
  return j;
}

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

/// Asks the uevent service; on failure answers the request and returns false.
template <class T, class... Ts>
bool ask(caf::actor_system& sys, httplib::Response& res, std::chrono::milliseconds timeout, T& out,
         Ts&&... xs) {
  auto target = sys.registry().get<caf::actor>(uevent_registry_name);
  if (!target) {
    reply(res, 503, {{"error", "the uevent service is not running"}});
    return false;
  }
  caf::scoped_actor self{sys};
  bool ok = false;
  self->request(target, timeout, std::forward<Ts>(xs)...)
      .receive(
          [&](T& x) {
            out = std::move(x);
            ok = true;
          },
          [&](caf::error& err) {
            reply(res, err == caf::sec::request_timeout ? 504 : 500,
                  {{"error", "uevent service: " + sys.render(err)}});
          });
  return ok;
}

/// The prefix parameter: absent, "" or "/" (everything) or a valid devpath.
bool prefix_of(const httplib::Request& req, httplib::Response& res, std::string& prefix) {
  prefix = req.has_param("prefix") ? req.get_param_value("prefix") : "";
  if (prefix.empty() || prefix == "/") {
    prefix.clear();
    return true;
  }
  if (prefix.size() > 4096 || !runtime::valid_devpath(prefix)) {
    reply(res, 400,
          {{"error",
            "prefix must be a devpath such as /devices/virtual/net (absolute, no empty, "
            "'.' or '..' segments)"}});
    return false;
  }
  return true;
}

/// A decimal parameter within [0, max]; absent gives `fallback`.
bool number_of(const httplib::Request& req, httplib::Response& res, const char* name,
               uint64_t fallback, uint64_t max, uint64_t& out) {
  if (!req.has_param(name)) {
    out = fallback;
    return true;
  }
  auto text = req.get_param_value(name);
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || out > max) {
    reply(res, 400,
          {{"error", std::string{name} + " must be a number from 0 to " + std::to_string(max)}});
    return false;
  }
  return true;
}

}  // namespace

void install_uevent_routes(caf::actor_system& sys, httplib::Server& srv) {
  srv.Get("/v1/uevent", [&sys](const httplib::Request& req, httplib::Response& res) {
    std::string prefix;
    if (!prefix_of(req, res, prefix)) {
      return;
    }
    uevent_snapshot snap;
    if (!ask(sys, res, std::chrono::seconds{10}, snap, uevent_get_atom::value, prefix)) {
      return;
    }
    json devices = json::array();
    for (const auto& d : snap.devices) {
      devices.push_back({{"devpath", d.devpath}, {"properties", d.properties}});
    }
    reply(res, 200, {{"devices", devices}, {"stats", stats_json(snap.stats)}});
  });
  srv.Get("/v1/uevent/stats", [&sys](const httplib::Request&, httplib::Response& res) {
    uevent_stats stats;
    if (ask(sys, res, std::chrono::seconds{10}, stats, uevent_stats_atom::value)) {
      reply(res, 200, stats_json(stats));
    }
  });
  srv.Get("/v1/uevent/follow", [&sys](const httplib::Request& req, httplib::Response& res) {
    std::string prefix;
    uint64_t after = 0, wait_ms = 0;
    if (!prefix_of(req, res, prefix) ||
        !number_of(req, res, "after", UINT64_MAX, UINT64_MAX, after) ||
        !number_of(req, res, "wait_ms", default_wait_ms, max_wait_ms, wait_ms)) {
      return;
    }
    struct waiter_slot {
      ~waiter_slot() { follow_waiters.fetch_sub(1); }
    } slot;
    if (follow_waiters.fetch_add(1) >= max_follow_waiters) {
      wait_ms = 0;
    }
    uevent_follow_batch batch;
    auto timeout = std::chrono::milliseconds{wait_ms} + std::chrono::seconds{5};
    if (!ask(sys, res, timeout, batch, uevent_follow_atom::value, after, prefix,
             static_cast<uint32_t>(wait_ms))) {
      return;
    }
    json events = json::array();
    for (const auto& n : batch.events) {
      events.push_back(notice_json(n));
    }
    reply(res, 200, {{"events", events}, {"next", batch.next}, {"missed", batch.missed}});
  });
}

}  // namespace myelin::actors
