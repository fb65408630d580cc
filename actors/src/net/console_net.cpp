// The control channel's routes of the net service.
#include "net/console_net.hpp"

#include <chrono>

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

#include "myelin/actors/net.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/net/net_config.hpp"
#include "myelin/runtime/net/property_table.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;

constexpr auto net_timeout = std::chrono::seconds{5};

/// Longest ?prefix= accepted.
constexpr size_t max_prefix = 256;

void reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

/// Asks the net service (HTTP thread); 503/504 replies are written on failure.
template <class T, class... Ts>
std::optional<T> ask_net(caf::actor_system& sys, httplib::Response& res, Ts&&... xs) {
  auto net = sys.registry().get<caf::actor>(net_registry_name);
  if (!net) {
    reply(res, 503, json{{"error", "the net service is not running"}});
    return std::nullopt;
  }
  caf::scoped_actor self{sys};
  std::optional<T> out;
  self->request(net, net_timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); },
               [&](caf::error& err) {
                 reply(
                     res, 504,
                     json{{"error", "the net service did not answer: " + runtime::describe(err)}});
               });
  return out;
}

/// A property's value as JSON: lists as arrays of strings.
json value_json(const std::string& name, const std::string& value) {
  if (!runtime::is_list_property(name)) {
    return value;
  }
  json items = json::array();
  size_t start = 0;
  while (start < value.size()) {
    auto pos = value.find(' ', start);
    if (pos == std::string::npos) {
      pos = value.size();
    }
    if (pos > start) {
      items.push_back(value.substr(start, pos - start));
    }
    start = pos + 1;
  }
  return items;
}

bool printable(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

}  // namespace

void install_net_routes(caf::actor_system& sys, httplib::Server& srv) {
  srv.Get("/v1/net", [&sys](const httplib::Request& req, httplib::Response& res) {
    std::string prefix = req.has_param("prefix") ? req.get_param_value("prefix") : "";
    if (prefix.size() > max_prefix || !printable(prefix)) {
      return reply(res, 400,
                   json{{"error", "prefix must be printable ASCII of at most " +
                                      std::to_string(max_prefix) + " characters"}});
    }
    auto status = ask_net<net_status>(sys, res, net_status_atom::value);
    if (!status) {
      return;
    }
    auto props = ask_net<net_properties>(sys, res, net_get_atom::value, prefix);
    if (!props) {
      return;
    }
    json p = json::object();
    for (const auto& [name, value] : *props) {
      p[name] = value_json(name, value);
    }
    reply(res, 200,
          json{{"status", status->status},
               {"node_name", status->node_name},
               {"configured", status->configured},
               {"subscriptions", status->subscriptions},
               {"properties", p}});
  });
  srv.Get(R"(/v1/net/([^/]+))", [&sys](const httplib::Request& req, httplib::Response& res) {
    std::string ifname = req.matches[1];
    if (!runtime::is_interface_name(ifname)) {
      return reply(
          res, 400,
          json{{"error", "'" + (printable(ifname) ? ifname : "?") + "' is not an interface name"}});
    }
    auto prefix = "interface/" + ifname + "/";
    auto props = ask_net<net_properties>(sys, res, net_get_atom::value, prefix);
    if (!props) {
      return;
    }
    if (props->empty()) {
      return reply(res, 404, json{{"error", "no interface '" + ifname + "'"}});
    }
    json p = json::object();
    for (const auto& [name, value] : *props) {
      p[name.substr(prefix.size())] = value_json(name, value);
    }
    reply(res, 200, json{{"interface", ifname}, {"properties", p}});
  });
}

}  // namespace myelin::actors
