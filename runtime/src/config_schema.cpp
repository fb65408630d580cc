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
  };
  return schema;
}

}  // namespace myelin::runtime
