// Where the device's key-value store lives: the interface of KV backends.
//
// Backends: the U-Boot environment through libubootenv (uboot_env.hpp), the
// same on a plain file for host mode, and memory (memory_kv.hpp). The Nerves
// API on top of them is kv_store (kv_store.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// The contents of a KV store.
using kv_map = std::map<std::string, std::string>;

/// A set of changes written in one environment write: a value sets the key,
/// nullopt deletes it.
using kv_changes = std::map<std::string, std::optional<std::string>>;

/// Errors of the KV store and its backends; the error context says more.
enum class kv_errc : uint8_t {
  /// A key is empty, or contains '=' or NUL; or a value contains NUL.
  invalid_key = 1,
  /// The key does not exist.
  not_found,
  /// The fw_env.config file is missing or malformed.
  bad_config,
  /// The environment could not be read (device missing, both copies bad, ...).
  unreadable,
  /// The environment could not be written (I/O error, device missing).
  write_failed,
  /// The environment is too small for what would be written; nothing changed.
  too_large,
};

std::string to_string(kv_errc x);

caf::error make_error(kv_errc x, std::string context);

/// A place where a KV map is stored. Not thread-safe: one owner (the kv actor).
class kv_backend {
 public:
  virtual ~kv_backend() = default;

  /// Reads the whole store. Errors: unreadable (with the reason), bad_config.
  virtual caf::expected<kv_map> read() = 0;

  /// Merges `changes` into the stored contents and writes them back in one
  /// write. When the current contents cannot be read (e.g. both copies of a
  /// redundant environment are bad), writes a new valid store holding just the
  /// changes instead of failing forever. On any error nothing is changed.
  /// Errors: invalid_key, too_large, write_failed, bad_config.
  virtual caf::error write(const kv_changes& changes) = 0;

  /// write(), then what the store holds now. A backend that knows the
  /// result of its write answers without reading the store again (the
  /// U-Boot environment: one read and one write per change).
  virtual caf::expected<kv_map> write_and_read(const kv_changes& changes) {
    if (auto err = write(changes)) {
      return err;
    }
    return read();
  }

  /// A short description for status and logs, e.g. "uboot:/etc/fw_env.config".
  virtual std::string describe() const = 0;

  /// Something the operator should know about the store (e.g. it was
  /// rebuilt from defaults); empty when nothing.
  virtual std::string notice() const { return {}; }
};

/// Checks a key: not empty, no '=' and no NUL. Returns invalid_key otherwise.
caf::error check_key(const std::string& key);

/// Checks a value: no NUL.
caf::error check_value(const std::string& key, const std::string& value);

/// Checks every key and value of a change set (check_key, check_value).
caf::error check_changes(const kv_changes& changes);

}  // namespace myelin::runtime
