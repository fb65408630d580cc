// The kv service: the device's key-value store (Nerves.Runtime.KV) and its
// serial number, as a core service actor.
//
// Protocol (every request answers or fails with a caf::error of kv_errc):
//   (kv_get_atom, std::string key)        -> std::string         | not_found
//   (kv_get_all_atom)                     -> runtime::kv_map
//   (kv_get_active_atom, std::string key) -> std::string         | not_found
//   (kv_get_all_active_atom)              -> runtime::kv_map     (prefix stripped)
//   (kv_put_atom, runtime::kv_map)        -> caf::unit           | invalid_key, too_large,
//   write_failed (kv_put_active_atom, runtime::kv_map) -> caf::unit           | same
//   (kv_apply_atom, runtime::kv_changes)  -> caf::unit           | same (sets and deletes, one
//   write) (kv_update_atom, kv_update_fn)        -> caf::unit           | fn's error, or as put
//        an atomic read-modify-write: fn gets the contents, returns the changes
//   (kv_reload_atom)                      -> caf::unit           | unreadable, bad_config
//   (kv_status_atom)                      -> kv_status
//   (serial_atom)                         -> runtime::serial_result
// Sends nothing on its own. Registered as `kv`. Supervised by the core
// supervisor; it reads the store when it starts, and when the store cannot be
// read it still starts, logs why, serves what it has, and lets a put create a
// valid store.
#pragma once

#include <functional>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/kv/kv_backend.hpp"
#include "myelin/runtime/kv/serial_number.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace myelin::actors {

using kv_get_atom = caf::atom_constant<caf::atom("kvget")>;
using kv_get_all_atom = caf::atom_constant<caf::atom("kvgetall")>;
using kv_get_active_atom = caf::atom_constant<caf::atom("kvgetact")>;
using kv_get_all_active_atom = caf::atom_constant<caf::atom("kvgetallac")>;
using kv_put_atom = caf::atom_constant<caf::atom("kvput")>;
using kv_put_active_atom = caf::atom_constant<caf::atom("kvputact")>;
using kv_apply_atom = caf::atom_constant<caf::atom("kvapply")>;
using kv_update_atom = caf::atom_constant<caf::atom("kvupdate")>;
using kv_reload_atom = caf::atom_constant<caf::atom("kvreload")>;
using kv_status_atom = caf::atom_constant<caf::atom("kvstatus")>;
using serial_atom = caf::atom_constant<caf::atom("serial")>;

inline constexpr caf::atom_value kv_registry_name = caf::atom("kv");

/// Computes the changes to apply from the current contents (kv_update_atom).
using kv_update_fn =
    std::function<caf::expected<runtime::kv_changes>(const runtime::kv_map& contents)>;

/// What the kv service reports about itself.
struct kv_status {
  /// e.g. "uboot:/etc/fw_env.config", "memory".
  std::string backend;
  /// Why the store could not be read or written last, empty if it could.
  std::string error;
  size_t keys = 0;
  /// The backend's notice (e.g. rebuilt from defaults), empty if none.
  std::string notice;
};

/// Serialization (the app-host link carries these).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kv_status& x) {
  return f(caf::meta::type_name("kv_status"), x.backend, x.error, x.keys, x.notice);
}

/// Where the store lives and how the serial number is found, from config.
struct kv_options {
  std::string backend = "uboot";
  std::string fw_env_config = "/etc/fw_env.config";
  /// For the file backend: the directory and size of each copy.
  std::string file_dir;
  uint64_t file_size = 131072;
  runtime::kv_map initial;
  /// What a write finding no valid copy rebuilds from: kv.defaults_file's
  /// variables, then kv.initial's.
  runtime::kv_map defaults;
  runtime::serial_options serial;
};

/// Reads the kv and serial sections of a configuration. Errors: a malformed
/// `kv.initial` entry or serial strategy (config_errc::invalid_value).
caf::expected<kv_options> kv_options_from(const runtime::config& cfg, const std::string& state_dir);

/// A start function for the kv service.
supervisors::start_fn kv_start(kv_options opts);

}  // namespace myelin::actors

namespace myelin::runtime {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, serial_result& x) {
  return f(caf::meta::type_name("serial_result"), x.value, x.source);
}

}  // namespace myelin::runtime

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::runtime::kv_changes)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(myelin::actors::kv_update_fn)
