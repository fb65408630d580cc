// What every console route shares: the one table from errors to HTTP
// statuses, JSON replies, and asking a registered service for one reply.
// Console handlers translate JSON <-> one message and its reply; the
// services decide (decision 0073).
#pragma once

#include <chrono>
#include <string>

#include <httplib.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/scoped_actor.hpp>
#include <nlohmann/json.hpp>

namespace myelin::actors {

/// The HTTP status of an error of any service: bad input 4xx, device trouble
/// 5xx. The one table (kv, firmware, fwfile, fwupload, app, config, overlay,
/// CAF's request timeout); anything else is 500.
int http_status_of(const caf::error& err);

void reply(httplib::Response& res, int status, const nlohmann::json& body);

/// {"error": <the error's description>} with http_status_of(err).
void reply_error(httplib::Response& res, const caf::error& err);

/// The error for a service that is not registered (503).
caf::error service_not_running(caf::atom_value name);

/// Asks the service registered as `name` and waits for its reply of type T
/// (an HTTP thread, never an actor). One request, one reply.
template <class T, class... Ts>
caf::expected<T> ask_service(caf::actor_system& sys, caf::atom_value name,
                             std::chrono::milliseconds timeout, Ts&&... xs) {
  auto target = sys.registry().get<caf::actor>(name);
  if (!target) {
    return service_not_running(name);
  }
  caf::scoped_actor self{sys};
  caf::expected<T> result{caf::error{}};
  self->request(target, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Like ask_service, for requests answered with an empty reply (caf::unit).
template <class... Ts>
caf::error ask_service_done(caf::actor_system& sys, caf::atom_value name,
                            std::chrono::milliseconds timeout, Ts&&... xs) {
  auto target = sys.registry().get<caf::actor>(name);
  if (!target) {
    return service_not_running(name);
  }
  caf::scoped_actor self{sys};
  caf::error result;
  self->request(target, timeout, std::forward<Ts>(xs)...)
      .receive([] {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

}  // namespace myelin::actors
