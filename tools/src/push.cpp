// `myelin push`: diff local install trees against the device, send one overlay.
#include "myelin/tools/push.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"

namespace myelin::tools {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

caf::expected<json> get_json(const device_address& dev, const std::string& path) {
  auto body = get(dev, path);
  if (!body) {
    return body.error();
  }
  auto doc = json::parse(*body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return make_error(client_errc::bad_response, path + ": the device answered something else");
  }
  return doc;
}

std::optional<std::string> read_all(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string short_hash(const std::string& h) {
  return h.substr(0, 12);
}

std::string size_text(uint64_t bytes) {
  std::ostringstream ss;
  if (bytes < 1024) {
    ss << bytes << " B";
  } else {
    ss.precision(1);
    ss << std::fixed << static_cast<double>(bytes) / 1024.0 << " KiB";
  }
  return ss.str();
}

}  // namespace

caf::expected<push_result> push(const push_options& opts) {
  auto overview = get_json(opts.device, "/v1/overlays");
  if (!overview) {
    return overview.error();
  }
  const auto device_apps = overview->value("apps", json::object());
  const bool allow_new = overview->value("allow_new_apps", false);
  std::set<std::string> pushed_apps;
  for (const auto& a : overview->value("pushed_apps", json::array())) {
    if (a.is_string()) {
      pushed_apps.insert(a.get<std::string>());
    }
  }
  auto tree_dir = [&](const std::string& app) {
    return (fs::path{opts.build_dir} / "apps" / app).string();
  };
  std::vector<std::string> apps = opts.apps;
  if (apps.empty() && opts.remove.empty()) {
    for (const auto& [name, hash] : device_apps.items()) {
      if (fs::is_directory(tree_dir(name))) {
        apps.push_back(name);
      }
    }
    if (apps.empty()) {
      return make_error(
          client_errc::request_failed,
          "no app of the device has an install tree under " + opts.build_dir + "/apps/");
    }
  }
  runtime::overlay_manifest manifest;
  manifest.persist = opts.persist;
  // Anti-rollback: bound to the firmware the device runs, and newer than
  // everything it applied (milliseconds since 1970 keep one laptop's pushes
  // in order without asking; the device's last sequence keeps them above
  // any other's).
  manifest.firmware = overview->value("firmware_uuid", std::string{});
  auto now_ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  manifest.sequence = std::max(overview->value("sequence", uint64_t{0}) + 1, now_ms);
  std::vector<std::string> contents;
  push_result result;
  for (const auto& app : opts.remove) {
    if (!device_apps.contains(app)) {
      return make_error(client_errc::request_failed,
                        "the device has no app '" + app + "'; nothing was sent");
    }
    if (pushed_apps.count(app) == 0) {
      return make_error(client_errc::request_failed,
                        "app '" + app +
                            "' is part of the device's firmware (its config lists it), not a "
                            "pushed app: --remove withdraws only apps a push brought; nothing "
                            "was sent");
    }
    auto remote = get_json(opts.device, "/v1/overlays/apps/" + app);
    if (!remote) {
      return remote.error();
    }
    push_app_result row;
    row.name = app;
    row.state = "removed";
    row.hash = remote->value("hash", "");
    manifest.apps.push_back(app);
    const auto files = remote->value("files", json::object());
    for (const auto& [path, h] : files.items()) {
      manifest.whiteouts.push_back(app + "/" + path);
      ++row.removed;
    }
    row.removing = true;
    result.apps.push_back(std::move(row));
  }
  for (const auto& app : apps) {
    const bool is_new = !device_apps.contains(app);
    if (is_new && !allow_new) {
      return make_error(client_errc::request_failed,
                        "the device has no app '" + app +
                            "' and accepts no new ones (overlays.allow_new_apps = false): add "
                            "[apps." +
                            app + "] to its config");
    }
    if (is_new && !fs::is_directory(tree_dir(app))) {
      return make_error(client_errc::request_failed,
                        "the device has no app '" + app + "', and " + tree_dir(app) +
                            " does not exist to install it from (build the app first)");
    }
    auto local = runtime::scan_app_dir(tree_dir(app));
    if (!local) {
      return local.error();
    }
    if (is_new && local->count("lib" + app + ".so") == 0) {
      return make_error(client_errc::request_failed,
                        tree_dir(app) + " has no lib" + app + ".so: build the app first");
    }
    auto remote = is_new ? caf::expected<json>{json::object()}
                         : get_json(opts.device, "/v1/overlays/apps/" + app);
    if (!remote) {
      return remote.error();
    }
    std::map<std::string, std::string> local_hashes;
    for (const auto& [path, f] : *local) {
      local_hashes[path] = f.sha256;
    }
    std::map<std::string, std::string> device_hashes;
    const auto files = remote->value("files", json::object());
    for (const auto& [path, h] : files.items()) {
      device_hashes[path] = h.get<std::string>();
    }
    auto diff = runtime::diff_trees(local_hashes, device_hashes);
    push_app_result row;
    row.name = app;
    row.changed = diff.changed.size();
    row.removed = diff.whiteouts.size();
    row.hash = remote->value("hash", "");
    row.state = "up to date";
    row.added = is_new;
    if (!diff.changed.empty() || !diff.whiteouts.empty()) {
      manifest.apps.push_back(app);
    }
    for (const auto& path : diff.changed) {
      const auto& f = local->at(path);
      auto data = read_all(f.source);
      if (!data || data->size() != f.size) {
        return runtime::make_error(runtime::overlay_errc::io_error,
                                   f.source + ": cannot read (or it changed while pushing)");
      }
      manifest.files.push_back({app + "/" + path, f.sha256, f.size, f.mode});
      row.bytes += f.size;
      result.bytes_changed += f.size;
      contents.push_back(std::move(*data));
    }
    for (const auto& path : diff.whiteouts) {
      manifest.whiteouts.push_back(app + "/" + path);
    }
    result.apps.push_back(std::move(row));
  }
  if (manifest.apps.empty()) {
    return result;
  }
  std::string key_file = opts.key_file;
  if (key_file.empty()) {
    if (const char* env = std::getenv("MYELIN_OVERLAY_KEY"); env != nullptr) {
      key_file = env;
    }
  }
  std::optional<runtime::key_pair> keys;
  if (!key_file.empty()) {
    auto k = runtime::read_secret_key_file(key_file);
    if (!k) {
      return k.error();
    }
    keys = *k;
  }
  auto bundle = runtime::make_bundle(manifest, contents, keys ? &keys->secret : nullptr);
  result.bytes_sent = bundle.size();
  uint64_t max_bytes = overview->value("max_bytes", uint64_t{0});
  if (max_bytes > 0 && bundle.size() > max_bytes) {
    return make_error(client_errc::request_failed,
                      "the overlay is " + std::to_string(bundle.size()) +
                          " bytes; the device accepts at most " + std::to_string(max_bytes) +
                          " (overlays.max_bytes); nothing was sent");
  }
  auto answer = post_bytes(opts.device, "/v1/overlays", bundle, std::chrono::seconds{120});
  if (!answer) {
    return answer.error();
  }
  auto doc = json::parse(answer->second, nullptr, false);
  if (answer->first != 200) {
    std::string why = "the device refused the overlay (HTTP " + std::to_string(answer->first) + ")";
    if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
      why = doc["error"].get<std::string>();
    }
    if (doc.is_object() && doc.contains("log") && doc["log"].is_object()) {
      for (const auto& [app, lines] : doc["log"].items()) {
        if (lines.empty()) {
          continue;
        }
        why += "\nlast output of " + app + ":";
        for (const auto& l : lines) {
          why += "\n  | " + (l.is_string() ? l.get<std::string>() : l.dump());
        }
      }
    }
    return caf::error{static_cast<uint8_t>(client_errc::request_failed), caf::atom("client"),
                      caf::make_message(why, answer->first)};
  }
  if (!doc.is_object()) {
    return make_error(client_errc::bad_response, "the device's answer to the push is not JSON");
  }
  result.pushed = true;
  result.overlay = doc.value("overlay", "");
  auto rows = doc.value("apps", json::object());
  for (auto& row : result.apps) {
    if (rows.contains(row.name)) {
      row.hash = rows[row.name].value("hash", row.hash);
      row.state = rows[row.name].value("state", "not running");
    } else if (row.removing) {
      row.state = "removed";
    } else if (row.changed + row.removed > 0) {
      row.state = "unchanged";
    }
  }
  return result;
}

void print_push_result(const push_result& r) {
  for (const auto& a : r.apps) {
    std::cout << a.name << ": ";
    if (a.removing) {
      std::cout << "removed (" << a.removed << " files withdrawn)\n";
      continue;
    }
    if (a.added) {
      std::cout << "new app, ";
    }
    if (a.changed + a.removed == 0) {
      std::cout << "up to date";
    } else {
      std::cout << a.changed << " changed, " << a.removed << " removed, " << size_text(a.bytes)
                << " -> " << a.state;
    }
    std::cout << " (" << short_hash(a.hash) << ")\n";
  }
  if (r.pushed) {
    std::cout << "overlay " << r.overlay << ": " << size_text(r.bytes_sent) << " sent\n";
  }
}

void add_push_command(CLI::App& app) {
  auto opts = std::make_shared<push_options>();
  auto device = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("push", "Send the apps' changed files to the device");
  cmd->add_option("APP", opts->apps,
                  "Apps to push (default: every app the device has); an app the device does not "
                  "have is installed");
  cmd->add_option("--remove", opts->remove,
                  "Withdraw this pushed app from the device (repeatable)");
  cmd->add_option("--device", *device,
                  "HOST:PORT of the device (default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  cmd->add_option("--build-dir", opts->build_dir, "The build holding apps/<app>/")
      ->capture_default_str();
  cmd->add_flag("--persist", opts->persist, "Keep the overlay across reboots");
  cmd->add_option("--key", opts->key_file, "Sign with NAME.key (default: $MYELIN_OVERLAY_KEY)");
  cmd->callback([opts, device] {
    auto dev = parse_device_address(*device);
    if (!dev) {
      std::cerr << "myelin: " << runtime::describe(dev.error()) << "\n";
      finish(1);
    }
    opts->device = *dev;
    if (auto err = set_credentials(opts->device, "", "", "")) {
      std::cerr << "myelin: " << runtime::describe(err) << "\n";
      finish(1);
    }
    auto r = push(*opts);
    if (!r) {
      std::cerr << "myelin push: " << runtime::describe(r.error()) << "\n";
      finish(1);
    }
    print_push_result(*r);
    finish(0);
  });
}

void add_overlay_commands(CLI::App& app) {
  add_push_command(app);
  add_watch_command(app);
  add_keys_command(app);
  add_new_command(app);
}

}  // namespace myelin::tools
