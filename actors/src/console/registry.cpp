// Names of the core services in CAF's actor registry.
#include "myelin/actors/registry.hpp"

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>

namespace myelin::actors {

void register_service(caf::actor_system& sys, caf::atom_value name, const caf::actor& service) {
  sys.registry().put(name, service);
  auto me = service.address();
  service->attach_functor([me, name, sys = &sys](const caf::error& reason) {
    auto current = sys->registry().get(name);
    if (current != nullptr && current->address() == me) {
      sys->registry().erase(name);
    }
    if (auto log = spdlog::get("boot")) {
      log->info("service {} stopped ({})", caf::to_string(name), sys->render(reason));
    }
  });
}

}  // namespace myelin::actors
