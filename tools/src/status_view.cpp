// The text view of `myelin status`.
#include "myelin/tools/status_view.hpp"

#include <iomanip>
#include <sstream>

#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

std::string text_of(const json& obj, const char* key, const std::string& fallback = "?") {
  if (!obj.is_object() || !obj.contains(key)) {
    return fallback;
  }
  const auto& v = obj[key];
  if (v.is_string()) {
    return v.get<std::string>();
  }
  if (v.is_null()) {
    return fallback;
  }
  return v.dump();
}

int64_t int_of(const json& obj, const char* key) {
  if (obj.is_object() && obj.contains(key) && obj[key].is_number()) {
    return obj[key].get<int64_t>();
  }
  return 0;
}

void tree_rows(std::ostringstream& out, const json& rows, int depth) {
  if (!rows.is_array() || depth > 16) {
    return;
  }
  for (const auto& row : rows) {
    auto name = std::string(static_cast<size_t>(depth) * 2, ' ') + text_of(row, "id");
    if (text_of(row, "type", "") == "supervisor") {
      name += "/";
    }
    auto running = text_of(row, "status") == "running";
    out << "  " << std::left << std::setw(28) << name << std::setw(12) << text_of(row, "status")
        << std::right << std::setw(8) << int_of(row, "restarts") << "  "
        << (running ? human_duration(int_of(row, "uptime_ms")) : "-") << "\n";
    if (row.is_object() && row.contains("children")) {
      tree_rows(out, row["children"], depth + 1);
    }
  }
}

}  // namespace

std::string human_duration(int64_t ms) {
  if (ms < 0) {
    ms = 0;
  }
  if (ms < 1000) {
    return std::to_string(ms) + " ms";
  }
  auto s = ms / 1000;
  if (s < 60) {
    return std::to_string(s) + " s";
  }
  if (s < 3600) {
    return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
  }
  if (s < 86400) {
    return std::to_string(s / 3600) + " h " + std::to_string(s % 3600 / 60) + " min";
  }
  return std::to_string(s / 86400) + " d " + std::to_string(s % 86400 / 3600) + " h";
}

caf::expected<std::string> render_status(const std::string& body) {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return runtime::make_error(runtime::config_errc::invalid_value,
                               "the device's status is not a JSON object");
  }
  std::ostringstream out;
  out << "device:   " << text_of(doc, "device") << "\n"
      << "target:   " << text_of(doc, "target", "host") << "\n"
      << "version:  " << text_of(doc, "version") << "\n"
      << "uptime:   " << human_duration(int_of(doc, "uptime_ms")) << "\n"
      << "state:    " << text_of(doc, "state_dir") << "\n"
      << "control:  " << text_of(doc, "control") << "\n";
  if (doc.contains("boot") && doc["boot"].is_object()) {
    // Each step, or "-" while it has not happened (or its time is unknown).
    const auto& boot = doc["boot"];
    auto step = [&boot](const char* key) {
      if (!boot.contains(key) || !boot[key].is_number()) {
        return std::string{"-"};
      }
      std::ostringstream ms;
      ms << std::fixed << std::setprecision(1) << boot[key].get<double>() << " ms";
      return ms.str();
    };
    out << "boot:     core ready " << step("core_ready_ms") << ", tree " << step("ready_ms")
        << ", apps " << step("apps_ready_ms") << " (since main)\n";
  }
  if (doc.contains("memory") && doc["memory"].is_object()) {
    const auto& m = doc["memory"];
    auto mib = [](const json& v) {
      std::ostringstream s;
      s << std::fixed << std::setprecision(1) << (v.is_number() ? v.get<double>() / 1024.0 : 0.0)
        << " MiB";
      return s.str();
    };
    out << "memory:   myelin-boot PSS " << mib(m.value("pss_kb", json{})) << ", "
        << int_of(m, "children") << " child process(es) PSS "
        << mib(m.value("children_pss_kb", json{})) << "\n";
  }
  if (doc.contains("time") && doc["time"].is_object()) {
    const auto& t = doc["time"];
    out << "time:     " << text_of(t, "now_utc", "?") << " (floor " << text_of(t, "floor_utc", "?")
        << ", " << text_of(t, "floor_source", "?") << "; "
        << (t.value("synchronized", false) ? "synchronized" : "not synchronized") << ")";
    if (!text_of(t, "adjustment", "").empty()) {
      out << "\n          at boot: " << text_of(t, "adjustment", "");
    }
    out << "\n";
  }
  if (doc.contains("daemons") && doc["daemons"].is_array() && !doc["daemons"].empty()) {
    out << "daemons: ";
    for (const auto& d : doc["daemons"]) {
      out << " " << text_of(d, "name", "?") << " " << text_of(d, "state", "?");
    }
    out << "\n";
  }
  if (doc.contains("watchdog") && doc["watchdog"].is_object()) {
    const auto& w = doc["watchdog"];
    out << "watchdog: " << text_of(w, "state", "?");
    if (text_of(w, "state", "") != "off") {
      out << " " << text_of(w, "device", "") << " (" << text_of(w, "identity", "") << ")";
      if (w.contains("timeout_s") && w["timeout_s"].is_number()) {
        out << ", timeout " << w["timeout_s"].get<int64_t>() << " s";
      }
      out << ", last reset: " << text_of(w, "last_reset", "unknown");
    }
    if (!text_of(w, "problem", "").empty()) {
      out << " (" << text_of(w, "problem", "") << ")";
    }
    out << "\n";
  }
  if (doc.contains("kv") && doc["kv"].is_object()) {
    const auto& kv = doc["kv"];
    out << "kv:       " << text_of(kv, "backend") << ", " << int_of(kv, "keys") << " keys";
    if (!text_of(kv, "error", "").empty()) {
      out << " (error: " << text_of(kv, "error", "") << ")";
    }
    if (!text_of(kv, "notice", "").empty()) {
      out << " (" << text_of(kv, "notice", "") << ")";
    }
    out << "\n";
  }
  if (doc.contains("config") && doc["config"].is_object() && doc["config"].contains("issues") &&
      doc["config"]["issues"].is_array()) {
    // Sections that did not load as written (decision 0074).
    for (const auto& i : doc["config"]["issues"]) {
      auto section = text_of(i, "section", "*");
      out << "config:   " << (section == "*" ? std::string{"(file)"} : "[" + section + "]") << " "
          << text_of(i, "message", "") << "\n";
    }
    if (!doc["config"]["issues"].empty()) {
      out << "          broken sections run on: " << text_of(doc["config"], "fallback", "defaults")
          << "\n";
    }
  }
  out << "\nsupervision tree\n  " << std::left << std::setw(28) << "child" << std::setw(12)
      << "state" << std::right << std::setw(8) << "restarts"
      << "  uptime\n";
  tree_rows(out, doc.contains("tree") ? doc["tree"] : json::array(), 0);
  auto apps = doc.contains("apps") ? doc["apps"] : json::array();
  if (apps.is_array() && !apps.empty()) {
    out << "\napps\n";
    for (const auto& a : apps) {
      auto running = text_of(a, "state") == "running";
      out << "  " << text_of(a, "name") << "  " << text_of(a, "state") << "  restarts "
          << int_of(a, "restarts") << ", up "
          << (running ? human_duration(int_of(a, "uptime_ms")) : "-") << "\n";
      auto version = text_of(a, "version", "");
      auto hash = text_of(a, "hash", "");
      if (!version.empty()) {
        out << "    version:  " << version;
        if (!hash.empty()) {
          out << " (" << hash.substr(0, 16) << ")";
        }
        out << "\n";
      } else if (!hash.empty()) {
        // Apps without a version string are told apart by their hash.
        out << "    hash:     " << hash.substr(0, 16) << "\n";
      }
      // An app whose host never ran has no memory limit applied yet.
      auto limit = text_of(a, "memory_limit", "");
      out << "    module:   " << text_of(a, "module") << "\n"
          << "    isolation: " << text_of(a, "isolation") << ", memory limit "
          << (limit.empty() ? "-" : limit) << "\n";
      auto origin = text_of(a, "origin", "");
      auto start = text_of(a, "start", "");
      if (!origin.empty()) {
        out << "    from:     " << origin << (start.empty() ? "" : ", runs " + start) << "\n";
      }
      if (!text_of(a, "sandbox", "").empty()) {
        out << "    sandbox:  " << text_of(a, "sandbox", "") << "\n";
      }
      if (!text_of(a, "settings", "").empty()) {
        out << "    settings: " << text_of(a, "settings", "") << "\n";
      }
      if (!text_of(a, "last_exit", "").empty()) {
        out << "    last exit: " << text_of(a, "last_exit", "") << "\n";
      }
    }
  }
  return out.str();
}

}  // namespace myelin::tools
