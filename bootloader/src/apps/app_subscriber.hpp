// The boot side of an app actor's uevent and net subscriptions: one proxy
// actor per subscribing app actor, spawned by the app host's broker.
//
// Protocol of the proxy (requests come from the app host broker, which
// forwards them from the link; replies are the services' own):
//   (uevent_subscribe_atom, std::string prefix, std::string subsystem) -> uint64_t
//   (uevent_unsubscribe_atom, uint64_t id)                             -> caf::unit
//   (net_subscribe_atom, std::string prefix)                           -> net_properties
//   (net_unsubscribe_atom, std::string prefix)                         -> caf::unit
// It makes each request in its own name, so the uevent and net services
// monitor the proxy and drop its subscriptions when it ends. Each event it
// receives (uevent_notice, (net_change_atom, property_change)) goes to the
// broker as (link::event_atom, uint64_t tag, caf::message event), where the
// broker writes it to the app host or drops it when the link is backed up.
// The broker kills the proxy when the app actor ends (link::gone_atom) and
// all of them when it ends itself; nobody supervises it.
#pragma once

#include <cstdint>

#include <caf/actor.hpp>
#include <caf/fwd.hpp>

namespace myelin::bootloader {

/// Spawns the proxy of the app actor `tag`, whose events go to `host`.
caf::actor spawn_app_subscriber(caf::actor_system& sys, caf::actor host, uint64_t tag);

}  // namespace myelin::bootloader
