// What an app may do through the core's services (issue 18): which kv keys
// it may read and write, and what it may do to firmware. Granted in the
// device configuration only ([apps.<name>] kv_read, kv_write, firmware); an
// app's own app.toml cannot grant itself anything.
#pragma once

#include <string>
#include <vector>

namespace myelin::runtime {

struct app_grants {
  /// The app's name: its own namespace is `app.<name>.`.
  std::string app;
  /// Key prefixes readable besides the defaults (its namespace and the
  /// public Nerves keys: nerves_*, a.nerves_*, b.nerves_*).
  std::vector<std::string> kv_read;
  /// Key prefixes writable besides its namespace. The bootloader's variables
  /// stay unwritable whatever is granted (protected_key).
  std::vector<std::string> kv_write;
  /// "status" (read only), "validate", or "manage" (validate, revert,
  /// prevent revert).
  std::string firmware = "status";
};

/// Whether no app may ever write `key`: U-Boot's and Nerves' variables (the
/// boot slot, validation, bootcount, the kernel command line, the boot
/// command, …) and the metadata of the firmware slots.
bool protected_key(const std::string& key);

/// Empty if the app may read `key`, else why not.
std::string read_refusal(const app_grants& g, const std::string& key);

/// Empty if the app may write `key`, else why not.
std::string write_refusal(const app_grants& g, const std::string& key);

/// "kv read: app.NAME., nerves_*, …; kv write: app.NAME.; firmware: status".
std::string describe(const app_grants& g);

}  // namespace myelin::runtime
