// The control channel: an HTTP/1.1 JSON endpoint served by cpp-httplib threads,
// owned by a CAF actor so that it is supervised like any other core service.
#include "myelin/actors/console.hpp"

#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/atom.hpp>
#include <caf/event_based_actor.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "myelin/runtime/version.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// The HTTP server and the thread that runs it; stopped when the actor exits.
struct http_endpoint {
  httplib::Server server;
  std::thread thread;
  std::string url;

  void stop() {
    server.stop();
    if (thread.joinable()) {
      thread.join();
    }
  }
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
                {"type", c.type == supervisors::child_type::supervisor ? "supervisor" : "worker"}};
    if (c.type == supervisors::child_type::supervisor && c.handle && depth < 8) {
      row["children"] = describe_tree(sys, c.handle, depth + 1);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

void install_routes(caf::actor_system& sys, http_endpoint& ep, const console_options& opts) {
  auto started = steady::now();
  auto& srv = ep.server;
  srv.Get("/v1/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"ok":true})", "application/json");
  });
  srv.Get("/v1/status", [&sys, &ep, opts, started](const httplib::Request&,
                                                    httplib::Response& res) {
    auto uptime =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count();
    json body = {{"device", opts.device_name},
                 {"version", runtime::version()},
                 {"pid", static_cast<int64_t>(getpid())},
                 {"uptime_ms", uptime},
                 {"state_dir", opts.state_dir},
                 {"control", ep.url}};
    auto root = sys.registry().get<caf::actor>(root_registry_name);
    body["tree"] = root ? describe_tree(sys, root, 0) : json::array();
    res.set_content(body.dump(), "application/json");
  });
  srv.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      json body = {{"error", "no such endpoint: " + req.method + " " + req.path}};
      res.set_content(body.dump(), "application/json");
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

}  // namespace

supervisors::start_fn console_start(console_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto ep = std::make_shared<http_endpoint>();
    // Few threads: the control channel is not a web server, and RSS matters.
    ep->server.new_task_queue = [] { return new httplib::ThreadPool(3); };
    ep->server.set_keep_alive_timeout(1);
    ep->server.set_read_timeout(std::chrono::seconds{10});
    int port = opts.port;
    errno = 0;
    if (port == 0) {
      port = ep->server.bind_to_any_port(opts.address);
      if (port <= 0) {
        port = 0;
      }
    } else if (!ep->server.bind_to_port(opts.address, port)) {
      port = 0;
    }
    if (port == 0) {
      auto why = errno != 0 ? std::string{std::strerror(errno)} : std::string{"bind failed"};
      return caf::make_error(caf::sec::cannot_open_port,
                             "control channel: cannot listen on " + opts.address + ":" +
                                 std::to_string(opts.port) + ": " + why);
    }
    ep->url = "http://" + opts.address + ":" + std::to_string(port);
    install_routes(sys, *ep, opts);
    ep->thread = std::thread([ep] { ep->server.listen_after_bind(); });
    auto self = sys.spawn([ep](caf::event_based_actor* self) -> caf::behavior {
      self->system().registry().put(console_registry_name,
                                    caf::actor_cast<caf::strong_actor_ptr>(self));
      auto me = self->address();
      self->attach_functor([ep, me, sys = &self->system()] {
        // A restarted console may have registered already: erase only our entry.
        auto current = sys->registry().get(console_registry_name);
        if (current != nullptr && current->address() == me) {
          sys->registry().erase(console_registry_name);
        }
        ep->stop();
      });
      return {
          [ep](caf::get_atom) { return ep->url; },
      };
    });
    return self;
  };
}

}  // namespace myelin::actors
