// Reboot, power off and halt.
#include "myelin/runtime/platform/power.hpp"

#include <linux/reboot.h>
#include <sys/reboot.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/platform/spawn.hpp"

namespace myelin::runtime {

std::string to_string(power_action a) {
  switch (a) {
    case power_action::reboot:
      return "reboot";
    case power_action::poweroff:
      return "poweroff";
    case power_action::halt:
      return "halt";
  }
  return "?";
}

caf::expected<power_action> parse_power_action(const std::string& text) {
  if (text == "reboot") {
    return power_action::reboot;
  }
  if (text == "poweroff") {
    return power_action::poweroff;
  }
  if (text == "halt") {
    return power_action::halt;
  }
  return make_error(config_errc::invalid_value,
                    "unknown power action '" + text + "' (reboot, poweroff or halt)");
}

power_steps default_power_steps() {
  power_steps s;
  s.sync = [] { ::sync(); };
  s.system_call = [](power_action a, const std::string& arg) -> int {
    long rc = 0;
    switch (a) {
      case power_action::reboot:
        if (!arg.empty()) {
          rc = ::syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                         LINUX_REBOOT_CMD_RESTART2, arg.c_str());
        } else {
          rc = ::reboot(RB_AUTOBOOT);
        }
        break;
      case power_action::poweroff:
        rc = ::reboot(RB_POWER_OFF);
        break;
      case power_action::halt:
        rc = ::reboot(RB_HALT_SYSTEM);
        break;
    }
    return rc == 0 ? 0 : errno;
  };
  s.run_command = [](const std::string& command) -> int {
    run_options o;
    o.spawn.argv = {"/bin/sh", "-c", command};
    o.spawn.in = spawn_stdio::null();
    o.spawn.out = spawn_stdio::inherit();
    o.spawn.err = spawn_stdio::inherit();
    o.spawn.new_process_group = false;
    auto r = run_program(std::move(o));
    return r && WIFEXITED(r->status) ? WEXITSTATUS(r->status) : -1;
  };
  return s;
}

namespace {

void final_step(power_action action, const std::string& arg, const power_options& opts,
                const power_steps& steps, std::vector<std::string>& log) {
  if (steps.sync) {
    steps.sync();
  }
  log.emplace_back("sync");
  auto with_arg = action == power_action::reboot ? arg : std::string{};
  if (opts.system_call) {
    log.push_back("system call " + to_string(action) + (with_arg.empty() ? "" : " " + with_arg));
    if (steps.system_call) {
      if (int err = steps.system_call(action, with_arg); err != 0) {
        log.push_back("system call failed: errno " + std::to_string(err));
      }
    }
    return;
  }
  const auto& command = action == power_action::reboot     ? opts.reboot_command
                        : action == power_action::poweroff ? opts.poweroff_command
                                                           : opts.halt_command;
  if (command.empty()) {
    log.emplace_back("no command configured: stopping only");
    return;
  }
  auto full = command + (with_arg.empty() ? "" : " " + with_arg);
  log.push_back("command " + full);
  if (steps.run_command) {
    if (int rc = steps.run_command(full); rc != 0) {
      log.push_back("command failed: exit " + std::to_string(rc));
    }
  }
}

}  // namespace

std::vector<std::string> run_power_sequence(power_action action, const std::string& arg,
                                            const power_options& opts, const power_steps& steps) {
  std::vector<std::string> log;
  if (steps.stop_apps) {
    log.emplace_back(steps.stop_apps(opts.stop_timeout) ? "stop apps" : "stop apps: timed out");
  }
  if (steps.stop_core) {
    log.emplace_back(steps.stop_core(opts.stop_timeout) ? "stop core" : "stop core: timed out");
  }
  final_step(action, arg, opts, steps, log);
  return log;
}

std::vector<std::string> run_immediate_power(power_action action, const std::string& arg,
                                             const power_options& opts, const power_steps& steps) {
  std::vector<std::string> log;
  final_step(action, arg, opts, steps, log);
  return log;
}

}  // namespace myelin::runtime
