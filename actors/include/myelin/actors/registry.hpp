// Names of the core services in CAF's actor registry.
#pragma once

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>

namespace myelin::actors {

/// Registers `service` under `name` at once (before it runs its first
/// message, so a lookup right after its start finds it), and removes the
/// entry when it exits — unless a restarted successor has replaced it.
void register_service(caf::actor_system& sys, caf::atom_value name, const caf::actor& service);

}  // namespace myelin::actors
