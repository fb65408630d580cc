// The proxy that holds an app actor's uevent and net subscriptions in myelin-boot.
#include "apps/app_subscriber.hpp"

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

#include "link/link.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/uevent.hpp"

namespace myelin::bootloader {

namespace {

using namespace std::chrono_literals;

/// Asks `service` in the proxy's own name and relays the answer to the
/// original requester (the broker).
template <class T, class... Ts>
caf::response_promise ask(caf::event_based_actor* self, caf::atom_value service, Ts&&... xs) {
  auto rp = self->make_response_promise();
  auto target = self->system().registry().get<caf::actor>(service);
  if (!target) {
    rp.deliver(caf::make_error(caf::sec::request_receiver_down,
                               "the " + caf::to_string(service) + " service is not running"));
    return rp;
  }
  auto on_error = [rp](caf::error& err) mutable { rp.deliver(std::move(err)); };
  if constexpr (std::is_void_v<T>) {
    self->request(target, 10s, std::forward<Ts>(xs)...)
        .then([rp]() mutable { rp.deliver(caf::unit); }, on_error);
  } else {
    self->request(target, 10s, std::forward<Ts>(xs)...)
        .then([rp](T& x) mutable { rp.deliver(std::move(x)); }, on_error);
  }
  return rp;
}

caf::behavior app_subscriber(caf::event_based_actor* self, caf::actor host, uint64_t tag) {
  using namespace actors;
  auto relay = [self, host, tag](caf::message event) {
    self->send(host, link::event_atom::value, tag, std::move(event));
  };
  return {
      [self](uevent_subscribe_atom op, std::string& prefix, std::string& subsystem) {
        return ask<uint64_t>(self, uevent_registry_name, op, std::move(prefix),
                             std::move(subsystem));
      },
      [self](uevent_unsubscribe_atom op, uint64_t id) {
        return ask<void>(self, uevent_registry_name, op, id);
      },
      [self](net_subscribe_atom op, std::string& prefix) {
        return ask<net_properties>(self, net_registry_name, op, std::move(prefix));
      },
      [self](net_unsubscribe_atom op, std::string& prefix) {
        return ask<void>(self, net_registry_name, op, std::move(prefix));
      },
      [relay](uevent_notice& notice) { relay(caf::make_message(std::move(notice))); },
      [relay](net_change_atom op, runtime::property_change& change) {
        relay(caf::make_message(op, std::move(change)));
      },
  };
}

}  // namespace

caf::actor spawn_app_subscriber(caf::actor_system& sys, caf::actor host, uint64_t tag) {
  return sys.spawn(app_subscriber, std::move(host), tag);
}

}  // namespace myelin::bootloader
