// `myelin push`: sends the files of local app builds that differ from what a
// device runs, as one signed overlay (see docs/pushing.md).
//
// An app's install tree is <build-dir>/apps/<app>/: lib<app>.so and anything
// else the app's build puts there (its priv/ data), exactly the layout of
// apphost.base_dir on the device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

#include "myelin/tools/device_client.hpp"

namespace CLI {
class App;
}

namespace myelin::tools {

struct push_options {
  device_address device;
  /// Holds apps/<app>/ (the install trees).
  std::string build_dir = "build";
  /// Keep the overlay across reboots (default: volatile).
  bool persist = false;
  /// A NAME.key file; empty: $MYELIN_OVERLAY_KEY, else unsigned.
  std::string key_file;
  /// Apps to push; empty: every app of the device that has an install tree
  /// (unless `remove` is given). An app the device lacks is installed when
  /// the device allows new apps (overlays.allow_new_apps).
  std::vector<std::string> apps;
  /// Pushed apps to withdraw (whiteouts for all their files).
  std::vector<std::string> remove;
};

struct push_app_result {
  std::string name;
  size_t changed = 0;
  size_t removed = 0;
  uint64_t bytes = 0;
  /// After the push (from the device).
  std::string hash;
  std::string state;
  /// The device did not have the app: this push installs it.
  bool added = false;
  /// push --remove: the app is withdrawn.
  bool removing = false;
};

struct push_result {
  /// False when every app was up to date (nothing was sent).
  bool pushed = false;
  /// The overlay's size on the wire.
  uint64_t bytes_sent = 0;
  /// The size of the files that differ.
  uint64_t bytes_changed = 0;
  std::string overlay;
  std::vector<push_app_result> apps;
};

/// Compares, sends and waits for the device's answer. Errors: client_errc
/// (device unreachable, refused: the device's reason, with the failing apps'
/// last output lines when it rolled back), overlay_errc (a local install tree).
caf::expected<push_result> push(const push_options& opts);

/// Prints a push's result, one line per app.
void print_push_result(const push_result& r);

/// Adds `push`, `watch`, `keys generate` and `new` to the CLI; each runs in its
/// callback and ends the parse with its exit code (CLI::RuntimeError).
void add_overlay_commands(CLI::App& app);

}  // namespace myelin::tools
