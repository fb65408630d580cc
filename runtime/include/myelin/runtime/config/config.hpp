// The device configuration: a TOML file checked against a schema, with overrides.
//
// Every key myelin understands is declared once in the schema (config_schema.cpp),
// with its type, default, allowed values and a one-line description; the
// configuration reference in docs/configuration.md lists the same keys. A file
// with an unknown key, a value of the wrong type or out of range is refused with
// an error naming the key, the file and the line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Errors of loading a configuration. The error's context says which key,
/// where and why.
enum class config_errc : uint8_t {
  /// The file does not exist or cannot be read.
  unreadable = 1,
  /// The file is not valid TOML.
  syntax_error,
  /// A key that the schema does not know.
  unknown_key,
  /// A value of the wrong type (e.g. a string where an integer is expected).
  type_mismatch,
  /// A number outside its range, or a string not among the allowed choices.
  invalid_value,
  /// A `--set` argument that is not `section.key=value`.
  bad_override,
};

std::string to_string(config_errc x);

caf::error make_error(config_errc x, std::string context);

/// The kinds of values a key can hold.
enum class value_kind : uint8_t { boolean, integer, string, string_list };

/// A configuration value.
using config_value = std::variant<bool, int64_t, std::string, std::vector<std::string>>;

/// One key of the schema. A `*` segment in `name` matches any single segment,
/// e.g. `apps.*.restart` matches `apps.hello.restart`.
struct config_key {
  std::string name;
  value_kind kind = value_kind::string;
  config_value default_value;
  std::string description;
  /// For integers: the inclusive range.
  int64_t min = INT64_MIN;
  int64_t max = INT64_MAX;
  /// For strings: the allowed values (empty: any).
  std::vector<std::string> choices;
};

/// All keys myelin understands.
const std::vector<config_key>& config_schema();

/// Renders a value as TOML would write it.
std::string to_toml(const config_value& value);

/// A loaded, validated configuration: every schema key without a wildcard has
/// a value (the file's, an override's, or the default).
class config {
 public:
  /// The built-in defaults alone.
  config();

  /// The value of a key, or nullopt when the key has no value (only possible
  /// for wildcard keys such as `apps.<name>.restart` that the file leaves out).
  const config_value* find(std::string_view key) const;

  /// Typed getters; a wildcard key the file leaves out gives its default.
  bool get_bool(std::string_view key) const;
  int64_t get_int(std::string_view key) const;
  const std::string& get_string(std::string_view key) const;
  const std::vector<std::string>& get_list(std::string_view key) const;

  /// Names of the sub-tables under `prefix` present in the file, e.g.
  /// table_names("apps") -> {"hello", "sensor"}, sorted.
  std::vector<std::string> table_names(std::string_view prefix) const;

  /// Sets a value after checking it against the schema.
  caf::error set(const std::string& key, config_value value);

  /// Drops every value of `section` (see section_of) and takes that
  /// section's values from `fallback` instead (null: the built-in defaults).
  void reset_section(const std::string& section, const config* fallback);

  /// All values, sorted by key.
  const std::map<std::string, config_value, std::less<>>& values() const { return values_; }

  /// Where the values came from: the file path, or empty for defaults only.
  const std::string& source() const { return source_; }
  void source(std::string path) { source_ = std::move(path); }

 private:
  std::map<std::string, config_value, std::less<>> values_;
  std::string source_;
};

/// Finds the schema key matching `key`, honouring wildcards.
const config_key* find_schema_key(std::string_view key);

/// Parses `text` (TOML) into a configuration; `origin` names it in errors.
caf::expected<config> parse_config(std::string_view text, const std::string& origin);

/// Loads a TOML file.
caf::expected<config> load_config(const std::string& path);

/// The section a key belongs to: its first segment (`control`, `kv`, …), or
/// `apps.<name>` for an app's keys.
std::string section_of(std::string_view key);

/// A problem in one section of a configuration that did not stop it loading.
struct config_issue {
  /// What section_of gives; "*" for the whole file.
  std::string section;
  std::string message;
};

/// Parses leniently, as myelin-boot does (decision 0074): only a TOML syntax
/// error fails. Every key that fails the schema (unknown, wrong type, out of
/// range) is reported in `issues` against its section, and that whole
/// section is taken from `fallback` instead (the last good configuration;
/// null: the built-in defaults) — so `[apps.x]` with a bad key is not
/// started unless the fallback has it, and the rest of the file still counts.
caf::expected<config> parse_config_sections(std::string_view text, const std::string& origin,
                                            const config* fallback,
                                            std::vector<config_issue>& issues);

/// The text of a config file. Errors: unreadable.
caf::expected<std::string> read_config_text(const std::string& path);

/// Applies one `section.key=value` override; the value is parsed according to
/// the key's kind (booleans true/false, integers, lists comma-separated).
caf::error apply_override(config& cfg, std::string_view assignment);

/// The largest app.toml accepted.
inline constexpr size_t max_app_defaults_bytes = 64 * 1024;

/// The keys of `[apps.<name>]` an app may set for itself in its app.toml
/// (every one but `module`, which is always lib<name>.so beside it).
bool is_app_default_key(std::string_view key);

/// Parses an app's own defaults (its app.toml: `restart = "permanent"`,
/// `memory_limit_mb = 256`, ... at top level) into a configuration holding
/// them as `apps.<app>.<key>`; `origin` names the file in errors. Errors:
/// config_errc naming the key and line (syntax_error, unknown_key,
/// type_mismatch, invalid_value), or invalid_value for a file over
/// max_app_defaults_bytes.
caf::expected<config> parse_app_defaults(std::string_view text, const std::string& app,
                                         const std::string& origin);

/// Where each of an app's settings comes from once the device's config and
/// the app's defaults are merged: key (e.g. "restart") -> "config",
/// "app.toml" or "default".
using settings_sources = std::map<std::string, std::string>;

/// The device's config with the app's defaults filled in where the device's
/// `[apps.<app>]` leaves a key out (the device's own section wins, key by
/// key). `app_defaults` comes from parse_app_defaults (null: none).
config merge_app_defaults(const config& device, const std::string& app, const config* app_defaults,
                          settings_sources* sources = nullptr);

/// A readable one-line description of any error produced by myelin::runtime.
std::string describe(const caf::error& err);

}  // namespace myelin::runtime
