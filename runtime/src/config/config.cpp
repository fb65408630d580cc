// Loading and validating the TOML configuration against the schema.
#include "myelin/runtime/config/config.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>
#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "platform/split.hpp"

namespace myelin::runtime {

// -- values -------------------------------------------------------------------

namespace {

bool key_matches(std::string_view pattern, std::string_view key) {
  auto p = split(pattern, '.');
  auto k = split(key, '.');
  if (p.size() != k.size()) {
    return false;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] != "*" && p[i] != k[i]) {
      return false;
    }
  }
  return true;
}

// True if `prefix` (a table path) leads to at least one schema key.
bool is_table_prefix(std::string_view prefix) {
  auto want = split(prefix, '.');
  for (const auto& k : config_schema()) {
    auto have = split(k.name, '.');
    if (have.size() <= want.size()) {
      continue;
    }
    bool ok = true;
    for (size_t i = 0; i < want.size() && ok; ++i) {
      ok = have[i] == "*" || have[i] == want[i];
    }
    if (ok) {
      return true;
    }
  }
  return false;
}

const char* kind_name(value_kind k) {
  switch (k) {
    case value_kind::boolean:
      return "a boolean (true or false)";
    case value_kind::integer:
      return "an integer";
    case value_kind::string:
      return "a string";
    case value_kind::string_list:
      return "a list of strings";
  }
  return "?";
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) {
    row[j] = j;
  }
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view key) {
  const config_key* best = nullptr;
  size_t best_dist = 4;
  for (const auto& k : config_schema()) {
    auto d = edit_distance(key, k.name);
    if (d < best_dist) {
      best = &k;
      best_dist = d;
    }
  }
  return best != nullptr ? " (did you mean '" + best->name + "'?)" : "";
}

caf::error check_value(const config_key& k, const std::string& key, const config_value& v,
                       const std::string& where) {
  auto expected_kind = [&]() -> bool {
    switch (k.kind) {
      case value_kind::boolean:
        return std::holds_alternative<bool>(v);
      case value_kind::integer:
        return std::holds_alternative<int64_t>(v);
      case value_kind::string:
        return std::holds_alternative<std::string>(v);
      case value_kind::string_list:
        return std::holds_alternative<std::vector<std::string>>(v);
    }
    return false;
  };
  if (!expected_kind()) {
    return make_error(config_errc::type_mismatch,
                      where + "'" + key + "' must be " + kind_name(k.kind) + ", got " + to_toml(v));
  }
  if (auto i = std::get_if<int64_t>(&v); i != nullptr && (*i < k.min || *i > k.max)) {
    return make_error(config_errc::invalid_value,
                      where + "'" + key + "' must be between " + std::to_string(k.min) + " and " +
                          std::to_string(k.max) + ", got " + std::to_string(*i));
  }
  if (auto s = std::get_if<std::string>(&v);
      s != nullptr && !k.choices.empty() &&
      std::find(k.choices.begin(), k.choices.end(), *s) == k.choices.end()) {
    std::string allowed;
    for (const auto& c : k.choices) {
      allowed += (allowed.empty() ? "" : ", ") + c;
    }
    return make_error(config_errc::invalid_value,
                      where + "'" + key + "' must be one of " + allowed + ", got \"" + *s + "\"");
  }
  return {};
}

std::string where_of(const std::string& origin, const toml::node& node) {
  const auto& src = node.source();
  if (src.begin.line == 0) {
    return origin + ": ";
  }
  return origin + ":" + std::to_string(src.begin.line) + ": ";
}

caf::error flatten_key(const std::string& key, const toml::node& node, const std::string& origin,
                       config& out);

/// Flattens `table` into `out`. Strict (`issues` null): the first error is
/// returned. Lenient: each error is recorded against the key's section and
/// the key skipped; the caller resets those sections.
caf::error flatten(const toml::table& table, const std::string& prefix, const std::string& origin,
                   config& out, std::vector<config_issue>* issues = nullptr) {
  for (const auto& [k, node] : table) {
    std::string key = prefix.empty() ? std::string{k.str()} : prefix + "." + std::string{k.str()};
    caf::error err;
    if (const auto* sub = node.as_table(); sub != nullptr && is_table_prefix(key)) {
      err = flatten(*sub, key, origin, out, issues);
    } else {
      err = flatten_key(key, node, origin, out);
    }
    if (err && issues == nullptr) {
      return err;
    }
    if (err) {
      issues->push_back({section_of(key), describe(err)});
    }
  }
  return {};
}

caf::error flatten_key(const std::string& key, const toml::node& node, const std::string& origin,
                       config& out) {
  {
    auto where = where_of(origin, node);
    if (node.as_table() != nullptr) {
      if (!is_table_prefix(key)) {
        return make_error(config_errc::unknown_key,
                          where + "unknown section [" + key + "]" + suggestion(key));
      }
      return {};  // a known section: flatten() descends into it
    }
    const auto* schema_key = find_schema_key(key);
    if (schema_key == nullptr) {
      return make_error(config_errc::unknown_key,
                        where + "unknown key '" + key + "'" + suggestion(key));
    }
    config_value value;
    if (auto b = node.value_exact<bool>()) {
      value = *b;
    } else if (auto i = node.value_exact<int64_t>()) {
      value = *i;
    } else if (auto s = node.value_exact<std::string>()) {
      value = *s;
    } else if (const auto* arr = node.as_array()) {
      std::vector<std::string> items;
      for (const auto& item : *arr) {
        auto s = item.value_exact<std::string>();
        if (!s) {
          return make_error(config_errc::type_mismatch, where + "'" + key + "' must be " +
                                                            kind_name(schema_key->kind) +
                                                            ", but an element is not a string");
        }
        items.push_back(*s);
      }
      value = std::move(items);
    } else {
      return make_error(config_errc::type_mismatch, where + "'" + key + "' must be " +
                                                        kind_name(schema_key->kind) +
                                                        ", got an unsupported TOML type");
    }
    if (auto err = check_value(*schema_key, key, value, where)) {
      return err;
    }
    return out.set(key, std::move(value));
  }
}

}  // namespace

std::string to_toml(const config_value& value) {
  struct visitor {
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(const std::string& s) const {
      std::ostringstream out;
      out << toml::value<std::string>{s};
      return out.str();
    }
    std::string operator()(const std::vector<std::string>& list) const {
      std::string out = "[";
      for (size_t i = 0; i < list.size(); ++i) {
        out += (i == 0 ? "" : ", ") + (*this)(list[i]);
      }
      return out + "]";
    }
  };
  return std::visit(visitor{}, value);
}

const config_key* find_schema_key(std::string_view key) {
  for (const auto& k : config_schema()) {
    if (key_matches(k.name, key)) {
      return &k;
    }
  }
  return nullptr;
}

// -- config -------------------------------------------------------------------

config::config() {
  for (const auto& k : config_schema()) {
    if (k.name.find('*') == std::string::npos) {
      values_.emplace(k.name, k.default_value);
    }
  }
}

const config_value* config::find(std::string_view key) const {
  auto i = values_.find(key);
  return i == values_.end() ? nullptr : &i->second;
}

namespace {

template <class T>
const T& get_checked(const config& cfg, std::string_view key) {
  const auto* v = cfg.find(key);
  if (v == nullptr) {
    // Wildcard keys (apps.<name>.x) left out of the file have the schema's default.
    if (const auto* k = find_schema_key(key)) {
      v = &k->default_value;
    }
  }
  if (v == nullptr || !std::holds_alternative<T>(*v)) {
    // A programming error: the key is not in the schema or has another type.
    throw std::logic_error("config key '" + std::string{key} + "' missing or of another type");
  }
  return std::get<T>(*v);
}

}  // namespace

bool config::get_bool(std::string_view key) const {
  return get_checked<bool>(*this, key);
}

int64_t config::get_int(std::string_view key) const {
  return get_checked<int64_t>(*this, key);
}

const std::string& config::get_string(std::string_view key) const {
  return get_checked<std::string>(*this, key);
}

const std::vector<std::string>& config::get_list(std::string_view key) const {
  return get_checked<std::vector<std::string>>(*this, key);
}

std::vector<std::string> config::table_names(std::string_view prefix) const {
  std::set<std::string> names;
  std::string p{prefix};
  p += '.';
  for (const auto& [key, value] : values_) {
    if (key.compare(0, p.size(), p) == 0) {
      auto rest = key.substr(p.size());
      auto dot = rest.find('.');
      if (dot != std::string::npos) {
        names.insert(rest.substr(0, dot));
      }
    }
  }
  return {names.begin(), names.end()};
}

caf::error config::set(const std::string& key, config_value value) {
  const auto* k = find_schema_key(key);
  if (k == nullptr) {
    return make_error(config_errc::unknown_key, "unknown key '" + key + "'" + suggestion(key));
  }
  if (auto err = check_value(*k, key, value, "")) {
    return err;
  }
  values_[key] = std::move(value);
  return {};
}

// -- loading ------------------------------------------------------------------

namespace {

/// Parses TOML text; a syntax error names origin:line:column.
caf::error parse_toml(std::string_view text, const std::string& origin, toml::table& out) {
  try {
    out = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    return make_error(config_errc::syntax_error, origin + ":" + std::to_string(src.begin.line) +
                                                     ":" + std::to_string(src.begin.column) + ": " +
                                                     std::string{e.description()});
  }
  return {};
}

}  // namespace

caf::expected<config> parse_config(std::string_view text, const std::string& origin) {
  toml::table table;
  if (auto err = parse_toml(text, origin, table)) {
    return err;
  }
  config cfg;
  if (auto err = flatten(table, "", origin, cfg)) {
    return err;
  }
  cfg.source(origin);
  return cfg;
}

std::string section_of(std::string_view key) {
  auto parts = split(key, '.');
  if (parts.empty()) {
    return {};
  }
  if (parts[0] == "apps" && parts.size() > 1) {
    return "apps." + std::string{parts[1]};
  }
  return std::string{parts[0]};
}

void config::reset_section(const std::string& section, const config* fallback) {
  for (auto i = values_.begin(); i != values_.end();) {
    i = section_of(i->first) == section ? values_.erase(i) : std::next(i);
  }
  config defaults;
  const auto& from = fallback != nullptr ? *fallback : defaults;
  for (const auto& [key, value] : from.values()) {
    if (section_of(key) == section) {
      values_[key] = value;
    }
  }
}

caf::expected<config> parse_config_sections(std::string_view text, const std::string& origin,
                                            const config* fallback,
                                            std::vector<config_issue>& issues) {
  toml::table table;
  if (auto err = parse_toml(text, origin, table)) {
    return err;
  }
  config cfg;
  std::vector<config_issue> found;
  flatten(table, "", origin, cfg, &found);
  std::set<std::string> reset;
  for (const auto& issue : found) {
    if (reset.insert(issue.section).second) {
      cfg.reset_section(issue.section, fallback);
    }
  }
  issues.insert(issues.end(), found.begin(), found.end());
  cfg.source(origin);
  return cfg;
}

caf::expected<std::string> read_config_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return make_error(config_errc::unreadable, path + ": cannot read the configuration file");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

bool is_app_default_key(std::string_view key) {
  // What an app may do is the device's to grant, never the app's own.
  if (key.empty() || key == "module" || key == "kv_read" || key == "kv_write" ||
      key == "firmware" || key == "user" || key.find('.') != std::string_view::npos) {
    return false;
  }
  return find_schema_key("apps.x." + std::string{key}) != nullptr;
}

caf::expected<config> parse_app_defaults(std::string_view text, const std::string& app,
                                         const std::string& origin) {
  if (text.size() > max_app_defaults_bytes) {
    return make_error(config_errc::invalid_value, origin + ": " + std::to_string(text.size()) +
                                                      " bytes; an app.toml holds at most " +
                                                      std::to_string(max_app_defaults_bytes));
  }
  toml::table table;
  if (auto err = parse_toml(text, origin, table)) {
    return err;
  }
  config out;
  for (const auto& [k, node] : table) {
    std::string key{k.str()};
    auto where = where_of(origin, node);
    if (!is_app_default_key(key)) {
      std::string allowed;
      for (const auto& sk : config_schema()) {
        if (sk.name.rfind("apps.*.", 0) == 0 && is_app_default_key(sk.name.substr(7))) {
          allowed += (allowed.empty() ? "" : ", ") + sk.name.substr(7);
        }
      }
      return make_error(config_errc::unknown_key,
                        where + "unknown key '" + key + "' (an app.toml may set " + allowed + ")");
    }
    toml::table one;
    one.insert(k, node);
    toml::table section;
    section.insert(app, std::move(one));
    toml::table apps;
    apps.insert("apps", std::move(section));
    if (auto err = flatten(apps, "", origin, out)) {
      return err;
    }
  }
  out.source(origin);
  return out;
}

config merge_app_defaults(const config& device, const std::string& app, const config* app_defaults,
                          settings_sources* sources) {
  config out = device;
  auto prefix = "apps." + app + ".";
  for (const auto& k : config_schema()) {
    if (k.name.rfind("apps.*.", 0) != 0) {
      continue;
    }
    auto short_key = k.name.substr(7);
    auto key = prefix + short_key;
    const char* from = "default";
    if (device.find(key) != nullptr) {
      from = "config";
    } else if (const auto* v = app_defaults != nullptr ? app_defaults->find(key) : nullptr) {
      // Checked against the schema when it was parsed.
      out.set(key, *v);
      from = "app.toml";
    }
    if (sources != nullptr) {
      (*sources)[short_key] = from;
    }
  }
  return out;
}

caf::expected<config> load_config(const std::string& path) {
  auto text = read_config_text(path);
  if (!text) {
    return text.error();
  }
  return parse_config(*text, path);
}

caf::error apply_override(config& cfg, std::string_view assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return make_error(config_errc::bad_override,
                      "--set " + std::string{assignment} + ": expected section.key=value");
  }
  std::string key{assignment.substr(0, eq)};
  std::string raw{assignment.substr(eq + 1)};
  const auto* k = find_schema_key(key);
  if (k == nullptr) {
    return make_error(
        config_errc::unknown_key,
        "--set " + std::string{assignment} + ": unknown key '" + key + "'" + suggestion(key));
  }
  config_value value;
  switch (k->kind) {
    case value_kind::boolean:
      if (raw == "true") {
        value = true;
      } else if (raw == "false") {
        value = false;
      } else {
        return make_error(config_errc::type_mismatch, "--set " + std::string{assignment} + ": '" +
                                                          key + "' must be true or false");
      }
      break;
    case value_kind::integer: {
      int64_t i = 0;
      auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), i);
      if (ec != std::errc{} || end != raw.data() + raw.size()) {
        return make_error(config_errc::type_mismatch, "--set " + std::string{assignment} + ": '" +
                                                          key + "' must be an integer");
      }
      value = i;
      break;
    }
    case value_kind::string:
      value = raw;
      break;
    case value_kind::string_list: {
      std::vector<std::string> items;
      if (!raw.empty()) {
        for (auto part : split(raw, ',')) {
          items.emplace_back(part);
        }
      }
      value = std::move(items);
      break;
    }
  }
  if (auto err = check_value(*k, key, value, "--set " + std::string{assignment} + ": ")) {
    return err;
  }
  return cfg.set(key, std::move(value));
}

}  // namespace myelin::runtime
