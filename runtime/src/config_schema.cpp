// The schema of myelin's configuration: every key, its type, default and meaning.
// docs/configuration.md documents the same keys (a test checks that it does).
#include "myelin/runtime/config.hpp"

namespace myelin::runtime {

namespace {

config_key str(std::string name, std::string def, std::string description,
               std::vector<std::string> choices = {}) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::string;
  k.default_value = std::move(def);
  k.description = std::move(description);
  k.choices = std::move(choices);
  return k;
}

config_key num(std::string name, int64_t def, int64_t min, int64_t max, std::string description) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::integer;
  k.default_value = def;
  k.description = std::move(description);
  k.min = min;
  k.max = max;
  return k;
}

config_key flag(std::string name, bool def, std::string description) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::boolean;
  k.default_value = def;
  k.description = std::move(description);
  return k;
}

config_key list(std::string name, std::vector<std::string> def, std::string description) {
  config_key k;
  k.name = std::move(name);
  k.kind = value_kind::string_list;
  k.default_value = std::move(def);
  k.description = std::move(description);
  return k;
}

}  // namespace

const std::vector<config_key>& config_schema() {
  static const std::vector<config_key> schema = {
      // [device]
      str("device.name", "myelin",
          "Name of the device; the node name is <name>@<primary address>."),
      // [log]
      str("log.level", "info", "Lowest level that is logged.",
          {"trace", "debug", "info", "warn", "error", "critical", "off"}),
      // [control]
      str("control.address", "127.0.0.1",
          "Address the control channel listens on (host mode: keep it on loopback)."),
      num("control.port", 4848, 0, 65535,
          "TCP port of the control channel; 0 picks a free port (printed when ready)."),
      flag("control.tls", false,
           "Serve HTTPS and require a client certificate signed by control.client_ca."),
      str("control.cert", "", "Server certificate (PEM) for control.tls."),
      str("control.key", "", "Server private key (PEM) for control.tls."),
      str("control.client_ca", "",
          "CA certificate(s) (PEM) that client certificates must be signed by."),
      flag("control.allow_unauthenticated", false,
           "Allow plain HTTP on an address other than loopback (anyone who can reach it "
           "controls the device). Off: such a configuration is refused."),
      // [state]
      str("state.dir", "/var/lib/myelin",
          "Directory for myelin's writable state (overlays, host-mode environment). "
          "Relative paths are taken from the working directory."),
      // [runtime]
      num("runtime.scheduler_threads", 2, 1, 64,
          "Worker threads of the actor system's scheduler (CAF scheduler.max-threads)."),
      num("runtime.shutdown_timeout_ms", 10000, 100, 600000,
          "How long an orderly stop may take before the rest is cut short."),
      // [core]
      num("core.intensity", 3, 0, 1000,
          "Restarts of core services allowed within core.period_ms before the core gives up."),
      num("core.period_ms", 5000, 1, 3600000, "Window of core.intensity, in milliseconds."),
      // [kv]
      str("kv.backend", "uboot",
          "Where the key-value store lives: the U-Boot environment (uboot), a U-Boot "
          "environment in <state.dir>/kv (file, host mode), or memory.",
          {"uboot", "file", "memory"}),
      str("kv.fw_env_config", "/etc/fw_env.config",
          "fw_env.config describing the U-Boot environment (kv.backend = uboot)."),
      num("kv.file_size", 131072, 4096, 16777216,
          "Size of each copy of the host-mode environment (kv.backend = file)."),
      list("kv.initial", {},
           "KEY=VALUE entries: the contents of the memory store, or of a new file store."),
      // [serial]
      list("serial.strategies", {"env:nerves_serial_number", "device_tree", "cpuinfo", "dmi"},
           "Where the serial number comes from, first success wins: env:KEY, cpuinfo, "
           "device_tree, dmi, mac:IFNAME, file:PATH[@OFFSET[:LENGTH]], script:COMMAND."),
      str("serial.prefix", "", "Put in front of the serial number found."),
      num("serial.keep_rightmost", 0, 0, 32,
          "Keep only this many rightmost characters of the value found (0: all)."),
      str("serial.fallback", "00000000", "The serial number when every strategy fails."),
      // [firmware]
      str("firmware.app_data", "",
          "What factory_reset erases: a directory (its contents) or a block device "
          "(its first and last MiB, so it is reformatted on the next boot). Empty: nothing."),
      str("firmware.platform", "host",
          "This device's platform; firmware for another platform is refused."),
      str("firmware.architecture", "",
          "This device's architecture; empty: the machine's (uname -m)."),
      list("firmware.trusted_keys", {},
           "Public keys (\"ed25519:<base64>\") a firmware's manifest must be signed by; "
           "none: every firmware upload is refused."),
      str("firmware.slots.a", "",
          "Block device (or file) of firmware slot a; empty: <state.dir>/firmware/slot-a.img."),
      str("firmware.slots.b", "",
          "Block device (or file) of firmware slot b; empty: <state.dir>/firmware/slot-b.img."),
      num("firmware.file_slot_size_mb", 1024, 1, 1 << 20,
          "Capacity of a slot that is a regular file (block devices: their size)."),
      num("firmware.upload_buffer_mb", 8, 2, 256,
          "Memory buffering a firmware upload between the network and the slot."),
      num("firmware.auto_validate_after_s", 0, 0, 86400,
          "Validate new firmware once every app has run this long without an unplanned "
          "exit (0: off; validate with `myelin fw validate` or from an app)."),
      // [apphost]
      str("apphost.path", "", "The myelin-apphost binary; empty: the one next to myelin-boot."),
      str("apphost.base_dir", "/usr/lib/myelin/apps",
          "Where app modules live: <base_dir>/<app>/lib<app>.so. Relative paths are taken "
          "from the working directory."),
      num("apphost.scheduler_threads", 2, 1, 64, "Scheduler threads of each app host."),
      num("apphost.heartbeat_ms", 1000, 10, 600000,
          "How often myelin-boot checks that each app host still responds."),
      num("apphost.heartbeat_timeout_ms", 3000, 20, 600000,
          "An app host that has not answered for this long is killed and restarted."),
      // [apps.<name>]
      flag("apps.*.enabled", true, "Start the app at boot."),
      str("apps.*.module", "", "The app's module; empty: <apphost.base_dir>/<name>/lib<name>.so."),
      str("apps.*.isolation", "process",
          "process: its own app host process (a crash cannot reach the core). "
          "inproc: inside myelin-boot (trusted, latency-critical code only).",
          {"process", "inproc"}),
      str("apps.*.restart", "permanent", "OTP restart type of the app.",
          {"permanent", "transient", "temporary"}),
      num("apps.*.intensity", 3, 0, 1000,
          "Restarts allowed within apps.<name>.period_ms; one more and the app is failed."),
      num("apps.*.period_ms", 5000, 1, 3600000, "Window of apps.<name>.intensity."),
      num("apps.*.backoff_min_ms", 0, 0, 3600000,
          "First restart delay of the exponential back-off; 0: restart at once (OTP)."),
      num("apps.*.backoff_max_ms", 10000, 1, 3600000, "Largest restart delay."),
      num("apps.*.memory_limit_mb", 512, 0, 1048576,
          "Address-space limit of the app host (RLIMIT_AS), in MiB; 0: none."),
      str("apps.*.on_failure", "continue",
          "What a failed app (restart intensity exceeded) does to the device.",
          {"continue", "halt", "reboot"}),
      // [power]
      str("power.reboot_command", "",
          "Command that reboots when myelin-boot is not PID 1 (e.g. \"systemctl reboot\"); "
          "empty: myelin-boot only stops."),
      str("power.poweroff_command", "", "Likewise for poweroff."),
      str("power.halt_command", "", "Likewise for halt."),
      // [pid1]
      flag("pid1.mount", true,
           "In PID 1 mode: mount /proc, /sys, /dev, /dev/pts, /run and /tmp where nothing is "
           "mounted yet."),
      str("pid1.hostname_pattern", "myelin-%s",
          "In PID 1 mode: the hostname, each %s replaced by the serial number; empty: leave "
          "the hostname alone."),
      str("pid1.on_failure", "reboot",
          "In PID 1 mode, when the runtime itself fails (boot failure, the root supervisor "
          "gives up): reboot, or hang forever (debugging).",
          {"reboot", "hang"}),
  };
  return schema;
}

}  // namespace myelin::runtime
