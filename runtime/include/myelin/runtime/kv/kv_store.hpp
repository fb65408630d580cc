// The device's key-value store with the Nerves.Runtime.KV API, over a backend.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "myelin/runtime/kv/kv_backend.hpp"

namespace myelin::runtime {

/// The key naming the active firmware slot, and its default.
inline constexpr const char* active_slot_key = "nerves_fw_active";
inline constexpr const char* default_active_slot = "a";

// The active-slot read rules, written once: the kv store, its published
// snapshot (actors/kv_snapshot.hpp) and the firmware rules use them.

/// `nerves_fw_active` of `values`, default "a".
std::string active_slot(const kv_map& values);

/// `<active>.<key>` of `values`.
std::optional<std::string> get_active(const kv_map& values, const std::string& key);

/// Every `<active>.<key>` of `values`, as `<key>`.
kv_map get_all_active(const kv_map& values);

/// The Nerves KV API over one backend. Serves a cached copy of the contents;
/// every write goes to the backend in one environment write and is read back.
/// Not thread-safe: owned by the kv service actor.
class kv_store {
 public:
  /// Reads the backend once. If it cannot be read the store still works: it
  /// serves nothing, `last_error()` says why, and a later put creates a valid
  /// store.
  explicit kv_store(std::unique_ptr<kv_backend> backend);

  /// Reads the backend again (Nerves: reload). On error keeps the contents it
  /// had and returns the error (also in last_error()).
  caf::error reload();

  /// The value of `key`, or nullopt.
  std::optional<std::string> get(const std::string& key) const;

  /// Everything.
  const kv_map& get_all() const { return values_; }

  /// The active slot: `nerves_fw_active`, default "a".
  std::string active_slot() const;

  /// `<active>.<key>`.
  std::optional<std::string> get_active(const std::string& key) const;

  /// The active slot's keys with the `<active>.` prefix stripped.
  kv_map get_all_active() const;

  /// Sets one key. Errors: invalid_key, too_large, write_failed (nothing changed).
  caf::error put(const std::string& key, const std::string& value);

  /// Sets several keys in one environment write.
  caf::error put(const kv_map& values);

  /// Sets `<active>.<key>` for each key, in one write.
  caf::error put_active(const kv_map& values);

  /// Applies sets and deletes in one write.
  caf::error apply(const kv_changes& changes);

  /// The error of the last read or write, empty if it succeeded.
  const caf::error& last_error() const { return last_error_; }

  /// The backend's description.
  std::string backend_name() const { return backend_->describe(); }
  std::string backend_notice() const { return backend_->notice(); }

 private:
  std::unique_ptr<kv_backend> backend_;
  kv_map values_;
  caf::error last_error_;
};

}  // namespace myelin::runtime
