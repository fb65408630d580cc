// The control channel: an HTTP/1.1 JSON endpoint served by cpp-httplib threads,
// owned by a CAF actor so that it is supervised like any other core service.
#include "myelin/actors/console.hpp"
#include "myelin/actors/console_checks.hpp"
#include "myelin/actors/thread_failure.hpp"

#include "daemons/console_daemons.hpp"
#include "mdns/console_mdns.hpp"
#include "myelin/actors/registry.hpp"
#include "net/console_net.hpp"
#include "time/console_time.hpp"
#include "watchdog/console_watchdog.hpp"

#include "console/console_http.hpp"
#include "console/console_server.hpp"
#include "console/http_endpoint.hpp"
#include "firmware/console_firmware.hpp"
#include "overlays/console_overlays.hpp"
#include "uevent/console_uevent.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <tuple>

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "log/console_logs.hpp"
#include "myelin/actors/apps.hpp"
#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/platform/process_memory.hpp"
#include "myelin/runtime/platform/thread_name.hpp"
#include "myelin/runtime/platform/version.hpp"
#include "partition/console_app_partition.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// The HTTP server and the thread that runs it; stopped when the actor exits.
/// cpp-httplib's thread pool with its threads named (`ps -L`, `top -H`).
/// With `max_pending` (plain HTTP), a connection accepted while that many
/// wait or are served is answered 503 at once on the accepting thread and
/// closed (run_overloaded): idle or slow clients cannot pile up descriptors
/// until myelin-boot has none left for app hosts, KV and overlays.
class named_pool : public httplib::TaskQueue {
 public:
  named_pool(size_t threads, const char* name, size_t max_pending)
      : pool_(threads), name_(name), max_pending_(max_pending) {}

  void enqueue(std::function<void()> fn) override {
    if (max_pending_ > 0 && pending_->load() >= max_pending_) {
      run_overloaded(fn);
      return;
    }
    ++*pending_;
    pool_.enqueue([name = name_, fn = std::move(fn), pending = pending_] {
      thread_local bool named = false;
      if (!named) {
        runtime::name_this_thread(name);
        named = true;
      }
      // A handler's exception must not end the pool's thread (std::terminate).
      runtime::run_guarded(name, fn, {});
      --*pending;
    });
  }

  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_;
  const char* name_;
  size_t max_pending_;
  std::shared_ptr<std::atomic<size_t>> pending_ = std::make_shared<std::atomic<size_t>>(0);
};

const char* status_name(supervisors::child_status s) {
  switch (s) {
    case supervisors::child_status::running:
      return "running";
    case supervisors::child_status::restarting:
      return "restarting";
    case supervisors::child_status::undefined:
      return "undefined";
  }
  return "?";
}

// Walks the supervision tree from `sup` (blocking; runs on an HTTP thread).
json describe_tree(caf::actor_system& sys, const caf::actor& sup, int depth) {
  json rows = json::array();
  auto children = supervisors::which_children(sys, sup, std::chrono::milliseconds{2000});
  if (!children) {
    return rows;
  }
  for (const auto& c : *children) {
    json row = {{"id", c.id},
                {"status", status_name(c.status)},
                {"type", c.type == supervisors::child_type::supervisor ? "supervisor" : "worker"},
                {"restarts", c.restarts},
                {"uptime_ms", c.uptime_ms}};
    if (c.type == supervisors::child_type::supervisor && c.handle && depth < 8) {
      row["children"] = describe_tree(sys, c.handle, depth + 1);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

constexpr auto service_timeout = std::chrono::seconds{10};

/// Connections of the control channel waiting for or holding a thread.
constexpr size_t max_pending_connections = 64;

/// How long POST /v1/apps/<app>/start|restart waits for the app to run.
constexpr auto app_start_timeout = std::chrono::seconds{30};

constexpr caf::atom_value apps_name = apps_registry_name;

/// Asks a registered service and waits for a reply of type T (HTTP thread).
template <class T, class... Ts>
caf::expected<T> ask_within(caf::actor_system& sys, std::chrono::seconds timeout,
                            caf::atom_value name, Ts&&... xs) {
  return ask_service<T>(sys, name, timeout, std::forward<Ts>(xs)...);
}

template <class T, class... Ts>
caf::expected<T> ask(caf::actor_system& sys, caf::atom_value name, Ts&&... xs) {
  return ask_within<T>(sys, service_timeout, name, std::forward<Ts>(xs)...);
}

/// Like ask, for requests answered with an empty reply (caf::unit).
template <class... Ts>
caf::error ask_done(caf::actor_system& sys, caf::atom_value name, Ts&&... xs) {
  return ask_service_done(sys, name, service_timeout, std::forward<Ts>(xs)...);
}

void reply_json(httplib::Response& res, const json& body) {
  res.set_content(body.dump(), "application/json");
}

void reply_bad_request(httplib::Response& res, const std::string& why) {
  res.status = 400;
  res.set_content(json{{"error", why}}.dump(), "application/json");
}

bool wants_active(const httplib::Request& req) {
  return req.has_param("active") && req.get_param_value("active") != "0" &&
         req.get_param_value("active") != "false";
}

/// Parses a JSON object body (empty body: empty object).
std::optional<json> json_body(const httplib::Request& req, httplib::Response& res) {
  if (req.body.empty()) {
    return json::object();
  }
  auto doc = json::parse(req.body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    reply_bad_request(res, "the request body must be a JSON object");
    return std::nullopt;
  }
  return doc;
}

json firmware_json(const runtime::firmware_status& s) {
  return {{"active", s.active},
          {"next", s.next},
          {"validation", runtime::to_string(s.validation)},
          {"scheme", runtime::to_string(s.scheme)}};
}

/// The apps' states as JSON (an empty list when no app manager runs).
caf::expected<json> ask_apps(caf::actor_system& sys) {
  if (!sys.registry().get<caf::actor>(apps_name)) {
    return json::array();
  }
  auto rows = ask<std::vector<app_status>>(sys, apps_name, apps_status_atom::value);
  if (!rows) {
    return rows.error();
  }
  json out = json::array();
  for (const auto& a : *rows) {
    out.push_back({{"name", a.name},
                   {"state", a.state},
                   {"module", a.module},
                   {"isolation", a.isolation},
                   {"restarts", a.restarts},
                   {"uptime_ms", a.uptime_ms},
                   {"last_exit", a.last_exit},
                   {"grants", a.grants},
                   {"memory_limit", a.memory_limit},
                   {"sandbox", a.sandbox},
                   {"hash", a.hash},
                   {"origin", a.origin},
                   {"settings", a.settings},
                   {"start", a.start}});
  }
  return out;
}

void install_service_routes(caf::actor_system& sys, httplib::Server& srv,
                            const console_options& opts) {
  // -- kv ---------------------------------------------------------------------
  srv.Get("/v1/kv", [&sys](const httplib::Request& req, httplib::Response& res) {
    auto all = wants_active(req)
                   ? ask<runtime::kv_map>(sys, kv_registry_name, kv_get_all_active_atom::value)
                   : ask<runtime::kv_map>(sys, kv_registry_name, kv_get_all_atom::value);
    if (!all) {
      return reply_error(res, all.error());
    }
    reply_json(res, json(*all));
  });
  srv.Get(R"(/v1/kv/(.+))", [&sys](const httplib::Request& req, httplib::Response& res) {
    std::string key = req.matches[1];
    auto value = wants_active(req)
                     ? ask<std::string>(sys, kv_registry_name, kv_get_active_atom::value, key)
                     : ask<std::string>(sys, kv_registry_name, kv_get_atom::value, key);
    if (!value) {
      return reply_error(res, value.error());
    }
    reply_json(res, {{"key", key}, {"value", *value}});
  });
  srv.Put("/v1/kv", [&sys](const httplib::Request& req, httplib::Response& res) {
    auto body = json_body(req, res);
    if (!body) {
      return;
    }
    runtime::kv_map values;
    for (const auto& [k, v] : body->items()) {
      if (!v.is_string()) {
        return reply_bad_request(res, "the value of '" + k + "' must be a string");
      }
      values[k] = v.get<std::string>();
    }
    auto err = wants_active(req)
                   ? ask_done(sys, kv_registry_name, kv_put_active_atom::value, values)
                   : ask_done(sys, kv_registry_name, kv_put_atom::value, values);
    if (err) {
      return reply_error(res, err);
    }
    reply_json(res, {{"ok", true}, {"written", values.size()}});
  });
  srv.Post("/v1/kv/reload", [&sys](const httplib::Request&, httplib::Response& res) {
    if (auto err = ask_done(sys, kv_registry_name, kv_reload_atom::value)) {
      return reply_error(res, err);
    }
    reply_json(res, {{"ok", true}});
  });
  srv.Get("/v1/serial", [&sys](const httplib::Request&, httplib::Response& res) {
    auto s = ask<runtime::serial_result>(sys, kv_registry_name, serial_atom::value);
    if (!s) {
      return reply_error(res, s.error());
    }
    reply_json(res, {{"serial", s->value}, {"source", s->source}});
  });
  // -- firmware ---------------------------------------------------------------
  srv.Get("/v1/fw", [&sys](const httplib::Request&, httplib::Response& res) {
    auto s = ask<runtime::firmware_status>(sys, firmware_registry_name, fw_status_atom::value);
    if (!s) {
      return reply_error(res, s.error());
    }
    reply_json(res, firmware_json(*s));
  });
  auto fw_op = [&sys](auto atom) {
    return [&sys, atom](const httplib::Request& req, httplib::Response& res) {
      if (!json_body(req, res)) {
        return;
      }
      if (auto err = ask_done(sys, firmware_registry_name, atom)) {
        return reply_error(res, err);
      }
      reply_json(res, {{"ok", true}});
    };
  };
  srv.Post("/v1/fw/validate", fw_op(fw_validate_atom::value));
  srv.Post("/v1/fw/prevent-revert", fw_op(fw_prevent_revert_atom::value));
  srv.Post("/v1/fw/factory-reset", fw_op(fw_factory_reset_atom::value));
  srv.Post("/v1/fw/revert", [&sys](const httplib::Request& req, httplib::Response& res) {
    auto body = json_body(req, res);
    if (!body) {
      return;
    }
    bool reboot = true;
    if (body->contains("reboot")) {
      if (!(*body)["reboot"].is_boolean()) {
        return reply_bad_request(res, "'reboot' must be true or false");
      }
      reboot = (*body)["reboot"].get<bool>();
    }
    if (auto err = ask_done(sys, firmware_registry_name, fw_revert_atom::value, reboot)) {
      return reply_error(res, err);
    }
    reply_json(res, {{"ok", true}, {"rebooting", reboot}});
  });
  // -- apps -------------------------------------------------------------------
  srv.Get("/v1/apps", [&sys](const httplib::Request&, httplib::Response& res) {
    auto apps = ask_apps(sys);
    if (!apps) {
      return reply_error(res, apps.error());
    }
    reply_json(res, *apps);
  });
  srv.Post(R"(/v1/apps/([^/]+)/(start|stop|restart))", [&sys](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!json_body(req, res)) {
      return;
    }
    std::string name = req.matches[1];
    std::string op = req.matches[2];
    if (op == "stop") {
      if (auto err = ask_done(sys, apps_name, app_stop_atom::value, name)) {
        return reply_error(res, err);
      }
      return reply_json(res, {{"ok", true}});
    }
    // Answered once the app is running (or has failed to start).
    auto row = op == "start" ? ask_within<app_status>(sys, app_start_timeout, apps_name,
                                                      app_start_atom::value, name)
                             : ask_within<app_status>(sys, app_start_timeout, apps_name,
                                                      app_restart_atom::value, name);
    if (!row) {
      return reply_error(res, row.error());
    }
    reply_json(res,
               {{"ok", true}, {"state", row->state}, {"module", row->module}, {"hash", row->hash}});
  });
  srv.Post(R"(/v1/apps/([^/]+)/call)", [&sys](const httplib::Request& req, httplib::Response& res) {
    auto body = json_body(req, res);
    if (!body) {
      return;
    }
    if (!body->contains("command") || !(*body)["command"].is_string()) {
      return reply_bad_request(res, "'command' must be a string");
    }
    std::vector<std::string> args;
    if (body->contains("args")) {
      const auto& a = (*body)["args"];
      if (!a.is_array()) {
        return reply_bad_request(res, "'args' must be a list of strings");
      }
      for (const auto& x : a) {
        if (!x.is_string()) {
          return reply_bad_request(res, "'args' must be a list of strings");
        }
        args.push_back(x.get<std::string>());
      }
    }
    std::string name = req.matches[1];
    // Apps may take up to 30 s to answer a command.
    auto reply =
        ask_within<std::string>(sys, std::chrono::seconds{35}, apps_name, app_call_atom::value,
                                name, (*body)["command"].get<std::string>(), args);
    if (!reply) {
      return reply_error(res, reply.error());
    }
    reply_json(res, {{"reply", *reply}});
  });
  // -- power ------------------------------------------------------------------
  srv.Post(R"(/v1/power/([a-z]+))", [opts](const httplib::Request& req, httplib::Response& res) {
    auto action = runtime::parse_power_action(req.matches[1]);
    if (!action) {
      res.status = 404;
      return reply_json(res, {{"error", runtime::describe(action.error())}});
    }
    auto body = json_body(req, res);
    if (!body) {
      return;
    }
    std::string arg;
    if (body->contains("arg")) {
      if (!(*body)["arg"].is_string()) {
        return reply_bad_request(res, "'arg' must be a string");
      }
      arg = (*body)["arg"].get<std::string>();
    }
    if (!opts.request_power) {
      res.status = 501;
      return reply_json(res, {{"error", "power control is not available"}});
    }
    opts.request_power(*action, arg, false);
    reply_json(res, {{"ok", true}, {"action", runtime::to_string(*action)}});
  });
}

void install_routes(caf::actor_system& sys, http_endpoint& ep, const console_options& opts) {
  auto started = steady::now();
  auto& srv = *ep.server;
  srv.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"ok":true})", "application/json");
  });
  srv.Get("/v1/status", [&sys, &ep, opts, started](const httplib::Request&,
                                                   httplib::Response& res) {
    auto uptime =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count();
    json body = {{"device", opts.device_name},
                 {"target", opts.target},
                 {"version", runtime::version()},
                 {"pid", static_cast<int64_t>(getpid())},
                 {"uptime_ms", uptime},
                 {"state_dir", opts.state_dir},
                 {"control", ep.url}};
    auto root = sys.registry().get<caf::actor>(root_registry_name);
    body["tree"] = root ? describe_tree(sys, root, 0) : json::array();
    if (auto apps = ask_apps(sys)) {
      body["apps"] = *apps;
    }
    if (opts.boot) {
      auto ms = [](double v) { return v < 0 ? json(nullptr) : json(std::round(v * 10) / 10); };
      body["boot"] = {{"core_ready_ms", ms(opts.boot->core_ready_ms)},
                      {"ready_ms", ms(opts.boot->ready_ms)},
                      {"apps_ready_ms", ms(opts.boot->apps_ready_ms)}};
    }
    {
      auto own = runtime::memory_of(getpid());
      auto kids = runtime::memory_of_children(getpid());
      auto kb = [](int64_t v) { return v < 0 ? json(nullptr) : json(v); };
      body["memory"] = {{"rss_kb", kb(own.rss_kb)},
                        {"pss_kb", kb(own.pss_kb)},
                        {"children", kids.count},
                        {"children_rss_kb", kb(kids.sum.rss_kb)},
                        {"children_pss_kb", kb(kids.sum.pss_kb)}};
    }
    if (auto t = ask<time_status>(sys, time_registry_name, time_status_atom::value)) {
      body["time"] = time_json(*t);
    }
    if (auto rows = ask<std::vector<daemon_status>>(sys, daemons_registry_name,
                                                    daemons_status_atom::value)) {
      auto list = json::array();
      for (const auto& r : *rows) {
        list.push_back(daemon_json(r));
      }
      body["daemons"] = list;
    }
    if (auto wd = ask<watchdog_status>(sys, watchdog_registry_name, watchdog_status_atom::value)) {
      body["watchdog"] = watchdog_json(*wd);
    }
    if (auto kv = ask<kv_status>(sys, kv_registry_name, kv_status_atom::value)) {
      body["kv"] = {{"backend", kv->backend},
                    {"keys", kv->keys},
                    {"error", kv->error},
                    {"notice", kv->notice}};
    }
    if (opts.boot) {
      auto issues = json::array();
      for (const auto& [section, message] : opts.boot->config_issues()) {
        issues.push_back({{"section", section}, {"message", message}});
      }
      body["config"] = {{"issues", issues},
                        {"fallback", issues.empty() ? "" : opts.boot->config_fallback()}};
    }
    res.set_content(body.dump(), "application/json");
  });
  install_service_routes(sys, srv, opts);
  install_app_partition_routes(srv, opts);
  install_uevent_routes(sys, srv);
  install_log_routes(srv);
  install_net_routes(sys, srv);
  install_watchdog_routes(sys, srv);
  install_daemon_routes(sys, srv);
  install_time_routes(sys, srv);
  install_mdns_routes(sys, srv);
  install_overlay_routes(sys, srv, opts.overlay_max_bytes);
  install_firmware_routes(sys, srv, opts);
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      auto what = res.status == 404 ? "no such endpoint: " + req.method + " " + req.path
                                    : "HTTP " + std::to_string(res.status) + " for " + req.method +
                                          " " + req.path;
      res.set_content(json{{"error", what}}.dump(), "application/json");
    }
  });
  srv.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        res.status = 500;
        res.set_content(json{{"error", what}}.dump(), "application/json");
      });
}

/// The subject of the request's client certificate: common name, units.
std::pair<std::string, std::vector<std::string>> client_subject(const httplib::Request& req) {
  std::pair<std::string, std::vector<std::string>> out;
  if (req.ssl == nullptr) {
    return out;
  }
  X509* cert = SSL_get1_peer_certificate(req.ssl);
  if (cert == nullptr) {
    return out;
  }
  X509_NAME* name = X509_get_subject_name(cert);
  auto text_of = [](X509_NAME_ENTRY* e) {
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    std::string s =
        n > 0 ? std::string(reinterpret_cast<char*>(utf8), static_cast<size_t>(n)) : std::string{};
    OPENSSL_free(utf8);
    return s;
  };
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0;) {
    out.first = text_of(X509_NAME_get_entry(name, i));
  }
  for (int i = -1; (i = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, i)) >= 0;) {
    out.second.push_back(text_of(X509_NAME_get_entry(name, i)));
  }
  X509_free(cert);
  return out;
}

/// Why the client certificate's role does not allow the request (empty: it does).
std::string role_refusal(const httplib::Request& req, const std::vector<std::string>& admins,
                         const std::vector<std::string>& readers) {
  auto [cn, ous] = client_subject(req);
  auto role = role_of(cn, ous, admins, readers);
  if (role == control_role::admin) {
    return {};
  }
  if (role == control_role::reader) {
    return changes_state(req.method)
               ? "the certificate CN=" + cn + " may only read (control.reader_clients)"
               : std::string{};
  }
  return "the certificate CN=" + cn +
         " has no role here (control.admin_clients, control.reader_clients)";
}

caf::error refuse(const std::string& why) {
  return caf::make_error(caf::sec::cannot_open_port, "control channel: " + why);
}

/// A plain HTTP server on loopback, or HTTPS that requires client
/// certificates; plain HTTP elsewhere only when explicitly allowed.
caf::expected<std::unique_ptr<httplib::Server>> make_server(const console_options& opts) {
  if (!opts.tls) {
    if (!is_loopback_address(opts.address) && !opts.allow_unauthenticated) {
      return refuse("refusing plain HTTP on " + opts.address +
                    ", which is not a loopback address (127.0.0.1, ::1; not a name): anyone who "
                    "reaches it would control the device. "
                    "Set control.tls = true with control.cert, control.key and "
                    "control.client_ca (or control.allow_unauthenticated = true)");
    }
    return make_plain_server();
  }
  for (const auto& [key, path] :
       {std::pair{"control.cert", opts.cert}, std::pair{"control.key", opts.key},
        std::pair{"control.client_ca", opts.client_ca}}) {
    if (path.empty()) {
      return refuse(std::string{key} + " is required with control.tls");
    }
    if (::access(path.c_str(), R_OK) != 0) {
      return refuse(std::string{key} + " = " + path + ": " + std::strerror(errno));
    }
  }
  auto server = std::make_unique<httplib::SSLServer>(opts.cert.c_str(), opts.key.c_str(),
                                                     opts.client_ca.c_str());
  if (!server->is_valid()) {
    return refuse(
        "TLS setup failed: control.cert, control.key and control.client_ca must be "
        "PEM files, and the key must match the certificate");
  }
  return std::unique_ptr<httplib::Server>{std::move(server)};
}

}  // namespace

namespace {

/// Makes the server and binds its socket with `opts`' control settings.
caf::expected<std::shared_ptr<http_endpoint>> listen_with(const console_options& opts) {
  auto ep = std::make_shared<http_endpoint>();
  auto server = make_server(opts);
  if (!server) {
    return server.error();
  }
  ep->server = std::move(*server);
  // Before any route (and before any body is read): no web page drives the
  // device, no rebound name reaches a loopback listener (decision 0079).
  ep->server->set_pre_routing_handler([tls = opts.tls, loopback = is_loopback_address(opts.address),
                                       admins = opts.admin_clients, readers = opts.reader_clients](
                                          const httplib::Request& req, httplib::Response& res) {
    int status = 403;
    auto why = cross_origin_refusal(req.get_header_value("Host"), req.get_header_value("Origin"),
                                    req.get_header_value("Sec-Fetch-Site"), tls, loopback);
    if (why.empty() && tls) {
      why = role_refusal(req, admins, readers);
    }
    if (why.empty()) {
      std::tie(status, why) =
          body_refusal(req.method, req.path, req.get_header_value("Content-Encoding"),
                       req.get_header_value("Transfer-Encoding"));
    }
    if (why.empty()) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    spdlog::warn("control: refused {} {} from {}: {}", req.method, req.path, req.remote_addr, why);
    res.status = status;
    res.set_content(json{{"error", why}}.dump(), "application/json");
    res.set_header("Connection", "close");
    return httplib::Server::HandlerResponse::Handled;
  });
  // Few threads: the control channel is not a web server, and RSS matters.
  // Long-polls (logs -f, uevent --follow: at most two each) and streamed
  // uploads hold a thread each; the rest stay for ordinary requests.
  // At most 64 connections waiting or served (plain HTTP; TLS connections
  // cannot be answered before their handshake, which needs a thread).
  ep->server->new_task_queue = [tls = opts.tls] {
    return new named_pool(8, "console.http", tls ? 0 : max_pending_connections);
  };
  ep->server->set_keep_alive_timeout(1);
  ep->server->set_read_timeout(std::chrono::seconds{10});
  // Requests carry small JSON documents; bulk uploads get their own routes.
  ep->server->set_payload_max_length(1 << 20);
  int port = opts.port;
  errno = 0;
  if (port == 0) {
    port = ep->server->bind_to_any_port(opts.address);
    if (port <= 0) {
      port = 0;
    }
  } else if (!ep->server->bind_to_port(opts.address, port)) {
    port = 0;
  }
  if (port == 0) {
    auto why = errno != 0 ? std::string{std::strerror(errno)} : std::string{"bind failed"};
    return caf::make_error(caf::sec::cannot_open_port, "control channel: cannot listen on " +
                                                           opts.address + ":" +
                                                           std::to_string(opts.port) + ": " + why);
  }
  ep->url =
      std::string{opts.tls ? "https://" : "http://"} + opts.address + ":" + std::to_string(port);
  return ep;
}

console_options with_settings(console_options o, const control_settings& c) {
  o.address = c.address;
  o.port = c.port;
  o.tls = c.tls;
  o.cert = c.cert;
  o.key = c.key;
  o.client_ca = c.client_ca;
  o.allow_unauthenticated = c.allow_unauthenticated;
  return o;
}

}  // namespace

supervisors::start_fn console_start(console_options configured) {
  return [configured](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    // The configured settings, else each fallback: a device whose control
    // settings are broken stays reachable — and so fixable (decision 0074).
    auto opts = configured;
    auto ep = listen_with(opts);
    for (size_t i = 0; !ep && i < configured.fallbacks.size(); ++i) {
      auto why = runtime::describe(ep.error());
      auto next = with_settings(configured, configured.fallbacks[i]);
      auto tried = listen_with(next);
      if (tried) {
        auto issue = why + "; listening on " + next.address + ":" + std::to_string(next.port) +
                     " (" + configured.fallbacks[i].origin + ") instead";
        spdlog::error("control: {}", issue);
        if (configured.boot) {
          configured.boot->add_config_issue("control", issue);
        }
        opts = next;
        ep = std::move(tried);
        break;
      }
    }
    if (!ep) {
      return ep.error();
    }
    auto endpoint = std::move(*ep);
    install_routes(sys, *endpoint, opts);
    // The pool's threads start from this one and keep its name until their
    // first request names them again. A listener that fails (or stops
    // listening) ends the service, whose supervisor restarts it.
    auto relay = std::make_shared<failure_relay>();
    endpoint->start("console.http", failure_relay::handler(relay));
    auto self = sys.spawn([endpoint](caf::event_based_actor*) -> caf::behavior {
      return {
          [endpoint](caf::get_atom) { return endpoint->url; },
      };
    });
    // The HTTP server lives exactly as long as the actor.
    self->attach_functor([endpoint] { endpoint->stop(); });
    relay->arm(self);
    register_service(sys, console_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
