// The `myelin` command line. Each command talks to a running device through
// its control channel, or (kv, fw, serial) works directly on a U-Boot
// environment with --fw-env-config, as fw_printenv/fw_setenv do.
#include "myelin/tools/cli.hpp"

#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_app_partition.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_status.hpp"
#include "myelin/runtime/kv/kv_store.hpp"
#include "myelin/runtime/kv/serial_number.hpp"
#include "myelin/runtime/kv/uboot_env.hpp"
#include "myelin/runtime/platform/version.hpp"
#include "myelin/tools/cli_daemons.hpp"
#include "myelin/tools/cli_devices.hpp"
#include "myelin/tools/cli_net.hpp"
#include "myelin/tools/cli_time.hpp"
#include "myelin/tools/cli_watchdog.hpp"
#include "myelin/tools/device_client.hpp"
#include "myelin/tools/firmware_commands.hpp"
#include "myelin/tools/logs_command.hpp"
#include "myelin/tools/push.hpp"
#include "myelin/tools/status_view.hpp"
#include "uevent_command.hpp"

namespace myelin::tools {

namespace {

using nlohmann::json;

/// What the kv / fw / serial commands work on.
class target {
 public:
  virtual ~target() = default;
  virtual caf::expected<runtime::kv_map> list(bool active) = 0;
  virtual caf::expected<std::string> get(const std::string& key, bool active) = 0;
  virtual caf::error put(const runtime::kv_map& values, bool active) = 0;
  virtual caf::expected<json> fw_status() = 0;
  virtual caf::error fw_validate() = 0;
  virtual caf::error fw_revert(bool reboot) = 0;
  virtual caf::expected<json> serial() = 0;
  /// What the store wants known (e.g. it was rebuilt from defaults).
  virtual std::string notice() const { return {}; }
};

caf::expected<json> parse_json(const caf::expected<std::string>& body) {
  if (!body) {
    return body.error();
  }
  auto doc = json::parse(*body, nullptr, false);
  if (doc.is_discarded()) {
    return make_error(client_errc::bad_response, "the device answered something that is not JSON");
  }
  return doc;
}

/// A running device, through its control channel.
class device_target : public target {
 public:
  explicit device_target(device_address dev) : dev_(std::move(dev)) {}

  caf::expected<runtime::kv_map> list(bool active) override {
    auto doc = parse_json(tools::get(dev_, active ? "/v1/kv?active=1" : "/v1/kv"));
    if (!doc) {
      return doc.error();
    }
    runtime::kv_map out;
    for (const auto& [k, v] : doc->items()) {
      if (!v.is_string()) {
        return make_error(client_errc::bad_response, "the device sent a non-string value");
      }
      out[k] = v.get<std::string>();
    }
    return out;
  }

  caf::expected<std::string> get(const std::string& key, bool active) override {
    auto doc = parse_json(
        tools::get(dev_, "/v1/kv/" + tools::url_encode(key) + (active ? "?active=1" : "")));
    if (!doc) {
      return doc.error();
    }
    if (!doc->contains("value") || !(*doc)["value"].is_string()) {
      return make_error(client_errc::bad_response, "the device's answer has no value");
    }
    return (*doc)["value"].get<std::string>();
  }

  caf::error put(const runtime::kv_map& values, bool active) override {
    auto r = send(dev_, "PUT", active ? "/v1/kv?active=1" : "/v1/kv", json(values).dump());
    return r ? caf::error{} : r.error();
  }

  caf::expected<json> fw_status() override { return parse_json(tools::get(dev_, "/v1/fw")); }

  caf::error fw_validate() override {
    auto r = send(dev_, "POST", "/v1/fw/validate", "{}");
    return r ? caf::error{} : r.error();
  }

  caf::error fw_revert(bool reboot) override {
    auto r = send(dev_, "POST", "/v1/fw/revert", json{{"reboot", reboot}}.dump());
    return r ? caf::error{} : r.error();
  }

  caf::expected<json> serial() override { return parse_json(tools::get(dev_, "/v1/serial")); }

 private:
  device_address dev_;
};

/// A U-Boot environment on this machine, described by a fw_env.config file.
class local_target : public target {
 public:
  local_target(const std::string& config, const std::string& defaults_file)
      : store_(std::make_unique<runtime::uboot_env_backend>(config, read_defaults(defaults_file))) {
  }

  std::string notice() const override { return store_.backend_notice(); }

  /// KEY=VALUE lines (U-Boot's u-boot-initial-env); none when missing.
  static runtime::kv_map read_defaults(const std::string& path) {
    runtime::kv_map out;
    std::ifstream in(path);
    for (std::string line; in && std::getline(in, line);) {
      auto eq = line.find('=');
      if (!line.empty() && line[0] != '#' && eq != std::string::npos && eq > 0) {
        out[line.substr(0, eq)] = line.substr(eq + 1);
      }
    }
    return out;
  }

  caf::expected<runtime::kv_map> list(bool active) override {
    if (store_.last_error()) {
      return store_.last_error();
    }
    return active ? store_.get_all_active() : store_.get_all();
  }

  caf::expected<std::string> get(const std::string& key, bool active) override {
    if (store_.last_error()) {
      return store_.last_error();
    }
    auto v = active ? store_.get_active(key) : store_.get(key);
    if (!v) {
      return runtime::make_error(runtime::kv_errc::not_found, "no key '" + key + "'");
    }
    return *v;
  }

  caf::error put(const runtime::kv_map& values, bool active) override {
    return active ? store_.put_active(values) : store_.put(values);
  }

  caf::expected<json> fw_status() override {
    if (store_.last_error()) {
      return store_.last_error();
    }
    auto s = runtime::status_of(store_.get_all());
    return json{{"active", s.active},
                {"next", s.next},
                {"validation", runtime::to_string(s.validation)},
                {"scheme", runtime::to_string(s.scheme)}};
  }

  caf::error fw_validate() override {
    return store_.apply(runtime::validate_changes(store_.get_all()));
  }

  caf::error fw_revert(bool) override {
    // Working on an environment file, there is no device to reboot.
    auto changes = runtime::revert_changes(store_.get_all());
    if (!changes) {
      return changes.error();
    }
    return store_.apply(*changes);
  }

  caf::expected<json> serial() override {
    runtime::serial_options opts;
    for (const char* s : {"env:nerves_serial_number", "device_tree", "cpuinfo", "dmi"}) {
      opts.strategies.push_back(*runtime::parse_serial_strategy(s));
    }
    auto r = runtime::serial_number(opts, store_.get_all());
    return json{{"serial", r.value}, {"source", r.source}};
  }

 private:
  runtime::kv_store store_;
};

int fail(const caf::error& err) {
  std::cerr << "myelin: " << runtime::describe(err) << "\n";
  return 1;
}

/// Options every device command has.
struct common_options {
  std::string device;
  std::string ca;
  std::string cert;
  std::string key;
  std::string fw_env_config;
  std::string defaults_file = "/etc/u-boot-initial-env";
  bool json = false;
};

void add_common(CLI::App* cmd, common_options& o, bool local_allowed) {
  cmd->add_option("--device", o.device,
                  "HOST:PORT of the device's control channel "
                  "(default: $MYELIN_DEVICE, else 127.0.0.1:4848)");
  cmd->add_option("--ca", o.ca,
                  "Talk HTTPS: the CA that signed the device's certificate (or $MYELIN_CA)");
  cmd->add_option("--cert", o.cert, "Client certificate for HTTPS (or $MYELIN_CERT)");
  cmd->add_option("--key", o.key, "Client private key for HTTPS (or $MYELIN_KEY)");
  if (local_allowed) {
    cmd->add_option("--fw-env-config", o.fw_env_config,
                    "Work directly on the U-Boot environment this fw_env.config describes");
    cmd->add_option("--defaults", o.defaults_file,
                    "With --fw-env-config: the environment to rebuild from when no copy is "
                    "valid (default: /etc/u-boot-initial-env)");
  }
  cmd->add_flag("--json", o.json, "Print JSON");
}

/// The device from --device and the TLS options.
caf::expected<device_address> device_of(const common_options& o) {
  auto dev = parse_device_address(o.device);
  if (!dev) {
    return dev.error();
  }
  if (auto err = set_credentials(*dev, o.ca, o.cert, o.key)) {
    return err;
  }
  return dev;
}

caf::expected<std::unique_ptr<target>> make_target(const common_options& o) {
  if (!o.fw_env_config.empty()) {
    return std::unique_ptr<target>{
        std::make_unique<local_target>(o.fw_env_config, o.defaults_file)};
  }
  auto dev = device_of(o);
  if (!dev) {
    return dev.error();
  }
  return std::unique_ptr<target>{std::make_unique<device_target>(*dev)};
}

}  // namespace

int run_cli(int argc, char** argv) {
  // A device that drops the connection (e.g. refusing our certificate) must
  // give an error message, not kill the tool.
  std::signal(SIGPIPE, SIG_IGN);
  if (argc == 2 && std::string{argv[1]} == "--version") {
    std::cout << "myelin " << runtime::version() << "\n";
    return 0;
  }
  CLI::App app{"myelin: talk to a myelin device"};
  app.require_subcommand(1);
  app.add_flag("--version", "Print the version and exit");
  common_options o;

  auto* status = app.add_subcommand("status", "Show the device's supervision tree and state");
  add_common(status, o, false);

  auto* kv = app.add_subcommand("kv", "Read and write the device's key-value store");
  kv->require_subcommand(1);
  std::string key;
  std::vector<std::string> assignments;
  bool active = false;
  auto* kv_get = kv->add_subcommand("get", "Print the value of KEY (exit 1 if missing)");
  kv_get->add_option("KEY", key, "The key")->required();
  kv_get->add_flag("--active", active, "Read <active slot>.KEY");
  add_common(kv_get, o, true);
  auto* kv_put = kv->add_subcommand("put", "Set keys, all in one environment write");
  kv_put->add_option("KEY=VALUE", assignments, "Assignments")->required();
  kv_put->add_flag("--active", active, "Write <active slot>.KEY");
  add_common(kv_put, o, true);
  auto* kv_list = kv->add_subcommand("list", "Print every key=value, sorted");
  kv_list->add_flag("--active", active, "Only the active slot's keys, prefix stripped");
  add_common(kv_list, o, true);

  auto* fw = app.add_subcommand("fw", "Firmware: status, validate, revert, create, info, push");
  fw->require_subcommand(1);
  bool no_reboot = false;
  auto* fw_status = fw->add_subcommand("status", "Print the active and next slot and validation");
  add_common(fw_status, o, true);
  auto* fw_validate = fw->add_subcommand("validate", "Mark the running firmware as good");
  add_common(fw_validate, o, true);
  auto* fw_revert = fw->add_subcommand("revert", "Switch back to the other slot (and reboot)");
  fw_revert->add_flag("--no-reboot", no_reboot, "Switch the next boot only");
  add_common(fw_revert, o, true);
  auto run_firmware_command = add_firmware_commands(fw);

  auto* serial = app.add_subcommand("serial", "Print the device's serial number");
  add_common(serial, o, true);

  auto* appcmd = app.add_subcommand("app", "Start, stop or restart an application");
  appcmd->require_subcommand(1);
  std::string app_name;
  std::vector<CLI::App*> app_ops;
  for (const char* op : {"start", "stop", "restart"}) {
    auto* sub = appcmd->add_subcommand(op, std::string{op} + " the app APP");
    sub->add_option("APP", app_name, "The app")->required();
    add_common(sub, o, false);
    app_ops.push_back(sub);
  }

  auto* call = app.add_subcommand("call", "Send a command to an app and print its reply");
  std::string call_command;
  std::vector<std::string> call_args;
  call->add_option("APP", app_name, "The app")->required();
  call->add_option("COMMAND", call_command, "The app's command")->required();
  call->add_option("ARG", call_args, "Arguments");
  add_common(call, o, false);

  // Power: the orderly stop on the device, then reboot(2) (PID 1) or
  // power.*_command (under another init).
  std::vector<CLI::App*> power_ops;
  for (const char* op : {"reboot", "poweroff", "halt"}) {
    auto* sub = app.add_subcommand(op, std::string{"Stop the device in order, then "} +
                                           (std::string{op} == "reboot" ? "restart it" : op));
    add_common(sub, o, false);
    power_ops.push_back(sub);
  }

  auto uevent_command = add_uevent_command(app);
  add_logs_command(app);
  net_command net{app};
  watchdog_command watchdog{app};
  daemons_command daemons{app};
  time_command time_cmd{app};
  devices_command devices_cmd{app};
  mdns_command mdns_cmd{app};
  add_overlay_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (int rc = uevent_command(); rc >= 0) {
    return rc;
  }

  if (net.parsed()) {
    return net.run();
  }
  if (watchdog.parsed()) {
    return watchdog.run();
  }
  if (daemons.parsed()) {
    return daemons.run();
  }
  if (time_cmd.parsed()) {
    return time_cmd.run();
  }
  if (devices_cmd.parsed()) {
    return devices_cmd.run();
  }
  if (mdns_cmd.parsed()) {
    return mdns_cmd.run();
  }
  if (status->parsed()) {
    auto dev = device_of(o);
    if (!dev) {
      return fail(dev.error());
    }
    auto doc = parse_json(tools::get(*dev, "/v1/status"));
    if (!doc) {
      return fail(doc.error());
    }
    if (o.json) {
      std::cout << doc->dump(2) << "\n";
      return 0;
    }
    auto text = render_status(doc->dump());
    if (!text) {
      return fail(text.error());
    }
    // The storage line comes from its own route, after the header lines.
    auto split = text->find("\nsupervision tree");
    std::cout << text->substr(0, split);
    print_app_partition_line(*dev, std::cout);
    if (split != std::string::npos) {
      std::cout << text->substr(split);
    }
    return 0;
  }

  for (auto* sub : app_ops) {
    if (!sub->parsed()) {
      continue;
    }
    auto dev = device_of(o);
    if (!dev) {
      return fail(dev.error());
    }
    auto r = send(*dev, "POST", "/v1/apps/" + app_name + "/" + sub->get_name(), "{}");
    if (!r) {
      return fail(r.error());
    }
    if (o.json) {
      std::cout << *r << "\n";
    }
    return 0;
  }

  if (call->parsed()) {
    auto dev = device_of(o);
    if (!dev) {
      return fail(dev.error());
    }
    json body{{"command", call_command}, {"args", call_args}};
    auto doc = parse_json(send(*dev, "POST", "/v1/apps/" + app_name + "/call", body.dump()));
    if (!doc) {
      return fail(doc.error());
    }
    std::cout << (o.json ? doc->dump() : doc->value("reply", "")) << "\n";
    return 0;
  }

  for (auto* op : power_ops) {
    if (!op->parsed()) {
      continue;
    }
    auto dev = device_of(o);
    if (!dev) {
      return fail(dev.error());
    }
    auto doc = parse_json(send(*dev, "POST", "/v1/power/" + op->get_name(), "{}"));
    if (!doc) {
      return fail(doc.error());
    }
    std::cout << (o.json ? doc->dump() : op->get_name() + ": the device is stopping") << "\n";
    return 0;
  }

  if (auto rc = run_firmware_command()) {
    return *rc;
  }
  auto t = make_target(o);
  if (!t) {
    return fail(t.error());
  }
  auto& tgt = **t;

  if (kv_get->parsed()) {
    auto v = tgt.get(key, active);
    if (!v) {
      return fail(v.error());
    }
    std::cout << (o.json ? json{{"key", key}, {"value", *v}}.dump() : *v) << "\n";
    return 0;
  }
  if (kv_put->parsed()) {
    runtime::kv_map values;
    for (const auto& a : assignments) {
      auto eq = a.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "myelin: '" << a << "' is not KEY=VALUE\n";
        return 2;
      }
      values[a.substr(0, eq)] = a.substr(eq + 1);
    }
    if (auto err = tgt.put(values, active)) {
      return fail(err);
    }
    if (auto n = tgt.notice(); !n.empty()) {
      std::cerr << "myelin: the environment " << n << "\n";
    }
    if (o.json) {
      std::cout << json{{"ok", true}, {"written", values.size()}}.dump() << "\n";
    }
    return 0;
  }
  if (kv_list->parsed()) {
    auto all = tgt.list(active);
    if (!all) {
      return fail(all.error());
    }
    if (o.json) {
      std::cout << json(*all).dump(2) << "\n";
      return 0;
    }
    for (const auto& [k, v] : *all) {
      std::cout << k << "=" << v << "\n";
    }
    return 0;
  }
  if (fw_status->parsed()) {
    auto s = tgt.fw_status();
    if (!s) {
      return fail(s.error());
    }
    if (o.json) {
      std::cout << s->dump(2) << "\n";
      return 0;
    }
    std::cout << "active: " << s->value("active", "?") << "\n"
              << "next: " << s->value("next", "?") << "\n"
              << "validation: " << s->value("validation", "?") << "\n";
    return 0;
  }
  if (fw_validate->parsed() || fw_revert->parsed()) {
    auto err = fw_validate->parsed() ? tgt.fw_validate() : tgt.fw_revert(!no_reboot);
    if (err) {
      return fail(err);
    }
    if (o.json) {
      std::cout << json{{"ok", true}}.dump() << "\n";
    } else if (fw_revert->parsed()) {
      std::cout << (no_reboot || !o.fw_env_config.empty()
                        ? "reverted; the next boot uses the other slot\n"
                        : "reverted; rebooting\n");
    }
    return 0;
  }
  if (serial->parsed()) {
    auto s = tgt.serial();
    if (!s) {
      return fail(s.error());
    }
    std::cout << (o.json ? s->dump() : s->value("serial", "")) << "\n";
    return 0;
  }
  return 2;
}

}  // namespace myelin::tools
