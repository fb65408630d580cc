// A read-only copy of the kv store that the kv service publishes after every
// change, so that read requests can be answered without a trip through the kv
// actor's mailbox (the app-host link answers them on its I/O thread, see
// decision 0007).
#pragma once

#include <memory>
#include <mutex>
#include <optional>

#include <caf/fwd.hpp>
#include <caf/message.hpp>

#include "myelin/actors/kv.hpp"

namespace myelin::actors {

class kv_snapshot {
 public:
  /// What a snapshot holds: the whole store and the service's status.
  struct contents {
    runtime::kv_map values;
    kv_status status;
    /// The kv actor that published it.
    const void* owner = nullptr;
  };

  /// The snapshot of the kv service running in `sys` (one per actor system).
  static kv_snapshot& of(caf::actor_system& sys);

  /// Replaces the published contents (called by the kv service only, before
  /// it answers the request that changed the store).
  void publish(std::shared_ptr<const contents> next);

  /// Withdraws the contents if `owner` published them: that kv service
  /// stopped; answer() declines until a successor publishes.
  void withdraw(const void* owner);

  /// The published contents, or null while no kv service runs.
  std::shared_ptr<const contents> current() const;

  /// Answers a read-only kv request exactly as the kv service would:
  /// kv_get_atom, kv_get_active_atom, kv_get_all_atom, kv_get_all_active_atom
  /// and kv_status_atom get their reply (the value, or a message holding a
  /// kv_errc::not_found error); any other request, a malformed one, or no
  /// published contents give nullopt (send it to the service instead).
  std::optional<caf::message> answer(const caf::message& request) const;

 private:
  mutable std::mutex mtx_;
  std::shared_ptr<const contents> current_;
};

}  // namespace myelin::actors
