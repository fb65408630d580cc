// The boot sequence of myelin-boot: config, logging, the root supervision tree,
// waiting for a stop signal, and the orderly stop in reverse start order; in
// PID 1 mode also the init duties of pid1.hpp.
#include "myelin/bootloader/boot.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "boot/app_partition_boot.hpp"
#include "boot/child_reaper.hpp"
#include "link/link.hpp"
#include "myelin/actors/console.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/log.hpp"
#include "myelin/actors/mdns.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/overlays.hpp"
#include "myelin/actors/time.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/actors/watchdog.hpp"
#include "myelin/bootloader/apps.hpp"
#include "myelin/bootloader/daemons.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/log/log_hub.hpp"
#include "myelin/runtime/overlays/base_snapshot.hpp"
#include "myelin/runtime/platform/durable_file.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/power.hpp"
#include "myelin/runtime/platform/signing.hpp"
#include "myelin/runtime/platform/thread_name.hpp"
#include "myelin/runtime/platform/version.hpp"
#include "myelin/supervisors/supervisor.hpp"
#include "pid1/pid1.hpp"

namespace myelin::bootloader {

namespace {

/// The configuration PID 1 reads when the kernel gives it no `--config`.
constexpr const char* device_config_path = "/etc/myelin/myelin.toml";

using std::chrono::milliseconds;
using steady = std::chrono::steady_clock;

namespace sup = myelin::supervisors;

// The loggers of the components share one sink; runtime::start_logging, called
// right after, gives them the log hub's sinks (console or kmsg, ring, file).
void setup_logging(const std::string& level) {
  auto sink = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
  sink->set_pattern("%H:%M:%S.%e %^%-5l%$ [%n] %v");
  for (const char* name : {"boot", "supervisor", "console", "kv", "firmware", "apps", "net",
                           "overlays", "watchdog", "daemons", "time"}) {
    if (spdlog::get(name) == nullptr) {
      spdlog::register_logger(std::make_shared<spdlog::logger>(name, sink));
    }
  }
  spdlog::set_default_logger(spdlog::get("boot"));
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGUSR1:
      return "SIGUSR1";
    case SIGUSR2:
      return "SIGUSR2";
    default:
      return "signal";
  }
}

/// Makes this process the terminal's foreground process group, so that
/// Ctrl-C reaches myelin-boot alone and not a parent such as make (which would
/// otherwise report the interrupt instead of myelin-boot's exit code).
/// Restores the previous foreground group on destruction.
class terminal_foreground {
 public:
  terminal_foreground() {
    if (isatty(STDIN_FILENO) == 0) {
      return;
    }
    previous_ = tcgetpgrp(STDIN_FILENO);
    if (previous_ < 0 || setpgid(0, 0) != 0) {
      return;
    }
    // A background group calling tcsetpgrp gets SIGTTOU unless it is ignored.
    std::signal(SIGTTOU, SIG_IGN);
    taken_ = tcsetpgrp(STDIN_FILENO, getpgrp()) == 0;
  }
  ~terminal_foreground() {
    if (taken_) {
      tcsetpgrp(STDIN_FILENO, previous_);
    }
  }
  terminal_foreground(const terminal_foreground&) = delete;
  terminal_foreground& operator=(const terminal_foreground&) = delete;

 private:
  pid_t previous_ = -1;
  bool taken_ = false;
};

/// Blocks until the root supervisor is gone (the eventfd fires) or `timeout`.
bool wait_fd(int fd, milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

/// A power request from a service (revert, factory reset, the control
/// channel), handed to the main thread, which runs the sequence.
struct power_mailbox {
  struct request {
    runtime::power_action action = runtime::power_action::reboot;
    std::string arg;
    bool immediate = false;
  };

  int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  std::mutex mtx;
  std::optional<request> pending;

  ~power_mailbox() { ::close(fd); }

  void post(runtime::power_action a, const std::string& arg, bool immediate) {
    {
      std::lock_guard<std::mutex> guard{mtx};
      // The first request wins; an immediate one overrides a graceful one.
      if (pending && !(immediate && !pending->immediate)) {
        return;
      }
      pending = request{a, arg, immediate};
    }
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
  }

  request take() {
    std::lock_guard<std::mutex> guard{mtx};
    return pending.value_or(request{});
  }
};

/// "apps ready in X ms: a, b" once every enabled app runs; a failed app is
/// named as failed. nullopt while some are still starting.
std::optional<std::string> apps_ready_line(caf::actor_system& sys, steady::time_point t0,
                                           double& ms_out) {
  auto manager = sys.registry().get<caf::actor>(apps_registry_name);
  if (!manager) {
    return std::nullopt;
  }
  std::optional<std::string> line;
  caf::scoped_actor self{sys};
  self->request(manager, std::chrono::seconds{1}, apps_status_atom::value)
      .receive(
          [&](const std::vector<app_status>& apps) {
            std::string names;
            for (const auto& a : apps) {
              if (a.state == "starting" || a.state == "restarting") {
                return;
              }
              if (a.state == "running" || a.state == "failed") {
                names += (names.empty() ? "" : ", ") + a.name +
                         (a.state == "failed" ? " (failed: " + a.last_exit + ")" : "");
              }
            }
            auto ms = std::chrono::duration<double, std::milli>(steady::now() - t0).count();
            ms_out = ms;
            line = fmt::format("apps ready in {:.1f} ms: {}", ms, names);
          },
          [](const caf::error&) {});
  return line;
}

/// The config with device.target resolved ("auto": "device" as process 1,
/// else "host") and, on the host, apphost.base_dir pointing at a snapshot of
/// the base apps in <state>/base: a rebuild of the tree they come from never
/// changes what runs, or what the device reports, until a push (decision 0072).
runtime::config resolve_target(const runtime::config& device_cfg, const std::string& state_dir) {
  runtime::config cfg = device_cfg;
  auto target = cfg.get_string("device.target");
  if (target == "auto") {
    target = getpid() == 1 ? "device" : "host";
    cfg.set("device.target", target);
  }
  if (target != "host") {
    return cfg;
  }
  std::set<std::string> apps;
  for (const auto& name : cfg.table_names("apps")) {
    if (cfg.get_string("apps." + name + ".module").empty()) {
      apps.insert(name);
    }
  }
  std::error_code ec;
  auto from = std::filesystem::absolute(cfg.get_string("apphost.base_dir"), ec).string();
  auto t0 = std::chrono::steady_clock::now();
  auto snapshot =
      runtime::snapshot_base_apps(from, (std::filesystem::path{state_dir} / "base").string(), apps);
  auto log = spdlog::get("boot");
  if (!snapshot) {
    (log ? log : spdlog::default_logger())
        ->error(
            "host mode: cannot snapshot the base apps ({}); running them from {}, where a "
            "rebuild changes them under the running device",
            runtime::describe(snapshot.error()), from);
    return cfg;
  }
  (log ? log : spdlog::default_logger())
      ->debug(
          "host mode: the base apps of {} copied to {} in {:.2f} ms", from, *snapshot,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  cfg.set("apphost.base_dir", *snapshot);
  return cfg;
}

std::string boot_binary_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string{"."} : exe.parent_path().string();
}

}  // namespace

namespace {

/// Builds a service's options from `cfg`; if its sections are semantically
/// wrong (a key that is no key, a strategy that is no strategy), those
/// sections are taken from the last good configuration, then from the
/// defaults, and the issue is reported (decision 0074): a config error never
/// stops the core.
template <class F>
auto with_fallback(runtime::config& cfg, std::initializer_list<const char*> sections,
                   const runtime::config* last_good, actors::boot_progress* progress, F make)
    -> decltype(make(cfg)) {
  auto r = make(cfg);
  if (r) {
    return r;
  }
  auto why = runtime::describe(r.error());
  std::string names;
  for (const auto* s : sections) {
    names += (names.empty() ? "[" : ", [") + std::string{s} + "]";
  }
  std::vector<const runtime::config*> sources;
  if (last_good != nullptr) {
    sources.push_back(last_good);
  }
  sources.push_back(nullptr);  // the defaults
  for (const auto* from : sources) {
    for (const auto* s : sections) {
      cfg.reset_section(s, from);
    }
    r = make(cfg);
    if (r) {
      auto issue = why + "; " + names + " on " +
                   (from != nullptr ? "the last good configuration" : "the defaults");
      spdlog::get("boot")->error("config: {}", issue);
      if (progress != nullptr) {
        progress->add_config_issue(sections.size() > 0 ? *sections.begin() : "*", issue);
      }
      break;
    }
  }
  return r;
}

actors::control_settings control_of(const runtime::config& cfg, std::string origin) {
  actors::control_settings c;
  c.address = cfg.get_string("control.address");
  c.port = static_cast<uint16_t>(cfg.get_int("control.port"));
  c.tls = cfg.get_bool("control.tls");
  c.cert = cfg.get_string("control.cert");
  c.key = cfg.get_string("control.key");
  c.client_ca = cfg.get_string("control.client_ca");
  c.allow_unauthenticated = cfg.get_bool("control.allow_unauthenticated");
  c.origin = std::move(origin);
  return c;
}

}  // namespace

caf::expected<caf::actor> start_tree(caf::actor_system& sys, const runtime::config& device_cfg,
                                     const std::string& state_dir,
                                     actors::power_request_fn request_power,
                                     std::shared_ptr<runtime::app_partition> partition,
                                     std::shared_ptr<actors::boot_progress> progress,
                                     const runtime::config* last_good) {
  auto cfg = resolve_target(device_cfg, state_dir);
  auto kv = with_fallback(
      cfg, {"kv", "serial"}, last_good, progress.get(),
      [&](const runtime::config& c) { return actors::kv_options_from(c, state_dir); });
  if (!kv) {
    return kv.error();
  }
  actors::firmware_options firmware;
  firmware.app_data = cfg.get_string("firmware.app_data");
  firmware.request_power = request_power;
  if (partition && partition->status().kind == "mount") {
    firmware.app_partition = partition;
  }
  firmware.auto_validate_after_s = cfg.get_int("firmware.auto_validate_after_s");
  firmware.check_fallback = cfg.get_bool("firmware.check_fallback_at_boot");
  if (progress) {
    firmware.config_issues = [progress] { return progress->config_issues().size(); };
  }

  actors::console_options console;
  console.request_power = request_power;
  console.address = cfg.get_string("control.address");
  console.port = static_cast<uint16_t>(cfg.get_int("control.port"));
  console.tls = cfg.get_bool("control.tls");
  console.cert = cfg.get_string("control.cert");
  console.key = cfg.get_string("control.key");
  console.client_ca = cfg.get_string("control.client_ca");
  console.allow_unauthenticated = cfg.get_bool("control.allow_unauthenticated");
  console.admin_clients = cfg.get_list("control.admin_clients");
  console.reader_clients = cfg.get_list("control.reader_clients");
  console.device_name = cfg.get_string("device.name");
  console.target = cfg.get_string("device.target");
  console.state_dir = state_dir;
  console.app_partition = partition;
  console.boot = progress;
  if (last_good != nullptr) {
    console.fallbacks.push_back(control_of(*last_good, "the last good configuration"));
  }
  console.fallbacks.push_back(control_of(runtime::config{}, "loopback, the defaults"));
  auto any_port = control_of(runtime::config{}, "loopback, any free port");
  any_port.port = 0;
  console.fallbacks.push_back(any_port);
  auto overlays = with_fallback(
      cfg, {"overlays"}, last_good, progress.get(),
      [&](const runtime::config& c) { return actors::open_overlay_service(c, state_dir); });
  if (!overlays) {
    return overlays.error();
  }
  console.overlay_max_bytes = overlays->store ? overlays->store->options().max_bytes : 0;
  auto watchdog =
      with_fallback(cfg, {"watchdog"}, last_good, progress.get(),
                    [](const runtime::config& c) { return actors::watchdog_options_from(c); });
  if (!watchdog) {
    return watchdog.error();
  }
  auto firmware_upload = actors::firmware_upload_options_from(cfg, state_dir);
  if (!firmware_upload) {
    return firmware_upload.error();
  }
  firmware.upload = *firmware_upload;

  sup::supervisor_flags core_flags;
  core_flags.strategy = sup::strategy::rest_for_one;
  core_flags.intensity = static_cast<int>(cfg.get_int("core.intensity"));
  core_flags.period = milliseconds{cfg.get_int("core.period_ms")};
  core_flags.name = core_id;
  std::vector<sup::child_spec> core_children{
      sup::worker("log", actors::log_start(actors::log_options_from(cfg, state_dir))),
      // Before the rest: they start with the clock at or after its floor.
      sup::worker("time", actors::time_start(actors::time_options_from(
                              cfg, state_dir, getpid() == 1 && pid1::in_initial_pid_namespace()))),
      sup::worker("kv", actors::kv_start(*kv)),
      sup::worker("firmware", actors::firmware_start(firmware)),
      sup::worker("uevent", actors::uevent_start(actors::uevent_options_from(cfg, getpid() == 1))),
      // After uevent, which loads the watchdog's module (uevent.modules).
      sup::worker("watchdog", actors::watchdog_start(*watchdog)),
      sup::worker("net", actors::net_start(actors::net_options_from(cfg, state_dir))),
      sup::worker("overlays", actors::overlays_start(*overlays)),
      sup::worker("console", actors::console_start(console)),
      // After console: it announces the control channel's port.
      sup::worker("mdns", actors::mdns_start(actors::mdns_options_from(
                              cfg, getpid() == 1 && pid1::in_initial_pid_namespace()))),
  };

  auto daemons = with_fallback(cfg, {"daemons"}, last_good, progress.get(),
                               [](const runtime::config& c) { return daemons_options_from(c); });
  if (!daemons) {
    return daemons.error();
  }
  auto apps = apps_options_from(cfg, boot_binary_dir());
  if (!apps) {
    return apps.error();
  }
  apps->request_power = request_power;
  apps->overlays = overlays->store;
  apps->exit_listeners = {actors::overlays_registry_name};

  sup::supervisor_flags root_flags;
  root_flags.strategy = sup::strategy::rest_for_one;
  // The root never restarts the core on its own: a core that gave up means the
  // device must go through boot again (reboot on a device, exit in host mode).
  root_flags.intensity = 0;
  root_flags.name = "root";
  std::vector<sup::child_spec> root_children{
      sup::supervisor(core_id,
                      [core_flags, core_children, progress](
                          caf::actor_system& s, const caf::message&) -> caf::expected<caf::actor> {
                        auto core = sup::start_supervisor(s, core_flags, core_children);
                        // The core's own readiness, before the apps start. The
                        // root never restarts the core (intensity 0): once.
                        if (core && progress && progress->core_ready_ms < 0) {
                          auto ms = progress->elapsed_ms();
                          progress->core_ready_ms = ms;
                          std::vector<std::string> ids;
                          for (const auto& c : core_children) {
                            ids.push_back(c.id);
                          }
                          auto log = spdlog::get("boot");
                          (log ? log : spdlog::default_logger())
                              ->info("core ready after {:.1f} ms: {}", ms, join(ids));
                        }
                        return core;
                      }),
      // OS programs after the core (they may use it), before the apps.
      sup::supervisor("daemons", daemons_start(*daemons)),
      sup::supervisor(apps_id, app_manager_start(*apps)),
  };
  auto root = sup::start_supervisor(sys, root_flags, std::move(root_children));
  if (root) {
    sys.registry().put(actors::root_registry_name, *root);
  }
  return root;
}

namespace {

/// After a boot whose configuration had no issue: the file becomes the last
/// good one (written only when it changed, durably).
void save_last_good(const std::string& text, const std::string& path,
                    const actors::boot_progress& progress) {
  if (text.empty() || !progress.config_issues().empty()) {
    return;
  }
  if (auto old = runtime::read_config_text(path); old && *old == text) {
    return;
  }
  auto log = spdlog::get("boot");
  if (auto err = runtime::write_file_durably(path, text)) {
    log->error("config: cannot save the last good configuration: {}", runtime::describe(err));
  } else {
    log->info("config: saved as the last good configuration ({})", path);
  }
}

}  // namespace

std::vector<std::string> child_ids(caf::actor_system& sys, const caf::actor& s) {
  std::vector<std::string> ids;
  if (auto rows = sup::which_children(sys, s, milliseconds{2000})) {
    for (const auto& r : *rows) {
      ids.push_back(r.id);
    }
  }
  return ids;
}

namespace {

/// What PID 1 mode needs to know at the end: whether it is on, how to make
/// the last system call, and what to do when the runtime failed.
struct pid1_context {
  /// --pid1 or getpid() == 1: mounts, hostname, reap every child, signals.
  bool mode = false;
  /// getpid() == 1: the process must never end (the kernel would panic).
  bool real = false;
  /// The test power hook is active: the system call is only recorded, and
  /// ending the process is then allowed (it is never the initial namespace).
  bool hook = false;
  bool hang_on_failure = false;
  runtime::power_options power;
  runtime::power_steps steps;
  sigset_t signals{};
};

runtime::power_options power_options_from(const runtime::config& cfg) {
  runtime::power_options popts;
  popts.system_call = getpid() == 1;
  popts.reboot_command = cfg.get_string("power.reboot_command");
  popts.poweroff_command = cfg.get_string("power.poweroff_command");
  popts.halt_command = cfg.get_string("power.halt_command");
  popts.stop_timeout = milliseconds{cfg.get_int("runtime.shutdown_timeout_ms")};
  return popts;
}

void log_power(const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    spdlog::get("boot")->info("power: {}", line);
  }
}

/// PID 1 with nothing left to run: wait forever, still reaping orphans; a
/// reboot/halt/poweroff signal makes the system call (it returns only if
/// that fails, or with the test hook).
void hang(const pid1_context& ctx) {
  auto log = spdlog::get("boot");
  log->critical(
      "hanging (pid1.on_failure = hang, or the system call failed); SIGTERM reboots, "
      "SIGUSR1 halts, SIGUSR2 powers off");
  // The actors that watched children are gone with their actor system.
  child_reaper::instance().forget_all();
  int fd = signalfd(-1, &ctx.signals, SFD_CLOEXEC);
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 1000) > 0) {
      signalfd_siginfo info{};
      if (::read(fd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        if (auto action = pid1::action_for_signal(static_cast<int>(info.ssi_signo))) {
          log->warn("{} received while hanging: {}", signal_name(static_cast<int>(info.ssi_signo)),
                    runtime::to_string(*action));
          log_power(runtime::run_immediate_power(*action, "", ctx.power, ctx.steps));
          if (ctx.hook || !ctx.real) {
            ::close(fd);
            return;
          }
        }
      }
    }
    child_reaper::instance().reap();
  }
}

/// What PID 1 does instead of ending with `code`. `failed`: the runtime itself
/// failed (the boot, or the root supervisor gave up). Returns the exit code
/// when ending is allowed (not PID 1, or the test hook), otherwise never.
int pid1_end(int code, bool failed, const pid1_context& ctx) {
  if (!ctx.mode) {
    return code;
  }
  auto log = spdlog::get("boot");
  if (failed) {
    log->critical("the runtime failed in PID 1 mode; pid1.on_failure = {}",
                  ctx.hang_on_failure ? "hang" : "reboot");
    if (!ctx.hang_on_failure) {
      log_power(run_immediate_power(runtime::power_action::reboot, "", ctx.power, ctx.steps));
      if (ctx.hook || !ctx.real) {
        return code;
      }
    }
  } else if (ctx.hook || !ctx.real) {
    return code;
  }
  hang(ctx);
  return code;
}

/// After a successful boot: the ready line, the hostname (PID 1), then waits
/// for a stop signal, a power request or the end of the root supervisor, and
/// stops accordingly. Returns the exit code and whether the runtime failed.
std::pair<int, bool> run_until_stop(caf::actor_system& sys, const caf::actor& root,
                                    const runtime::config& cfg, const std::string& state_dir,
                                    actors::boot_progress& progress, power_mailbox& mailbox,
                                    const pid1_context& pid1_ctx, const sigset_t& signals) {
  auto log = spdlog::get("boot");
  // The root supervisor ending for any reason wakes the main thread.
  int root_down = eventfd(0, EFD_CLOEXEC);
  auto root_reason = std::make_shared<caf::error>();
  root->attach_functor([root_down, root_reason](const caf::error& reason) {
    *root_reason = reason;
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(root_down, &one, sizeof(one));
  });

  std::string control = "(none)";
  {
    caf::scoped_actor self{sys};
    auto console = sys.registry().get<caf::actor>(actors::console_registry_name);
    if (console) {
      self->request(console, std::chrono::seconds{2}, caf::get_atom::value)
          .receive([&](const std::string& url) { control = url; },
                   [&](const caf::error& err) { control = "unknown (" + sys.render(err) + ")"; });
    }
  }
  std::vector<std::string> core_services, apps;
  if (auto rows = sup::which_children(sys, root, milliseconds{2000})) {
    for (const auto& r : *rows) {
      if (r.id == core_id && r.handle) {
        core_services = child_ids(sys, r.handle);
      } else if (r.id == apps_id && r.handle) {
        apps = child_ids(sys, r.handle);
      }
    }
  }
  if (pid1_ctx.mode) {
    // The core is up: the kv service knows the serial number.
    log->info("pid1: {}", pid1::set_hostname(sys, cfg.get_string("pid1.hostname_pattern")));
  }
  auto ready_ms = progress.elapsed_ms();
  progress.ready_ms = ready_ms;
  log->info("ready in {:.1f} ms: core [{}], apps [{}]; control channel {}; state {}", ready_ms,
            join(core_services), join(apps), control, state_dir);

  auto& reaper = child_reaper::instance();
  int sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
  pollfd fds[3] = {{sigfd, POLLIN, 0}, {root_down, POLLIN, 0}, {mailbox.fd, POLLIN, 0}};
  // Until every enabled app has answered (or failed), look every few ms.
  bool apps_pending = !apps.empty();
  int stop_signal = 0;
  std::optional<power_mailbox::request> signal_power;
  while (stop_signal == 0 && !signal_power) {
    // Exited orphans wait out their grace period without a new SIGCHLD.
    int rc = ::poll(fds, 3, apps_pending ? 5 : reaper.has_unclaimed() ? 100 : -1);
    if (rc < 0 && errno != EINTR) {
      break;
    }
    if (apps_pending) {
      double ms = 0;
      if (auto line = apps_ready_line(sys, progress.started, ms)) {
        progress.apps_ready_ms = ms;
        log->info("{}", *line);
        apps_pending = false;
      } else if (steady::now() - progress.started > std::chrono::seconds{30}) {
        apps_pending = false;
      }
    }
    if (rc <= 0) {
      if (reaper.has_unclaimed()) {
        reaper.reap();
      }
      continue;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      signalfd_siginfo info{};
      if (::read(sigfd, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
        auto sig = static_cast<int>(info.ssi_signo);
        if (sig == SIGCHLD) {
          reaper.reap();
        } else if (auto action = pid1::action_for_signal(sig); action && pid1_ctx.mode) {
          // As PID 1 a stop signal is a power request: same path, same order.
          log->info("{} received in PID 1 mode: {}", signal_name(sig), runtime::to_string(*action));
          signal_power = power_mailbox::request{*action, "", false};
        } else {
          stop_signal = sig;
        }
      }
    }
    if ((fds[1].revents & POLLIN) != 0 || (fds[2].revents & POLLIN) != 0) {
      break;
    }
  }
  // Exits of app hosts during the stop are still collected.
  std::atomic<bool> reaping{true};
  std::thread reaper_thread = runtime::guarded_thread("reaper", [&reaping, sigfd] {
    while (reaping) {
      pollfd p{sigfd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        signalfd_siginfo info{};
        [[maybe_unused]] auto n = ::read(sigfd, &info, sizeof(info));
      }
      child_reaper::instance().reap();
    }
  });
  int exit_code = 0;
  bool failed = false;
  auto timeout = milliseconds{cfg.get_int("runtime.shutdown_timeout_ms")};
  bool power_requested =
      signal_power || ((fds[2].revents & POLLIN) != 0 && (fds[1].revents & POLLIN) == 0);
  if (stop_signal != 0) {
    log->info("{} received: stopping apps, then the core, in reverse start order",
              signal_name(stop_signal));
    caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
    if (!wait_fd(root_down, timeout)) {
      log->critical("stop did not finish within {} ms; cutting it short", timeout.count());
      spdlog::shutdown();
      std::_Exit(1);
    }
    log->info("stopped cleanly");
  } else if (power_requested) {
    auto req = signal_power ? *signal_power : mailbox.take();
    auto steps = pid1_ctx.steps;
    // Apps first, then the core: terminate_child keeps the root from
    // restarting them.
    auto stop = [&sys, r = root](const char* id) {
      return [&sys, r, id](milliseconds limit) {
        caf::scoped_actor self{sys};
        bool done = false;
        self->request(r, limit, sup::terminate_child_atom::value, std::string{id})
            .receive([&] { done = true; }, [&](caf::error&) {});
        return done;
      };
    };
    steps.stop_apps = stop(apps_id);
    steps.stop_core = stop(core_id);
    log->warn("{}{}{}: {}", runtime::to_string(req.action), req.arg.empty() ? "" : " " + req.arg,
              req.immediate ? " (immediate)" : "",
              req.immediate ? "no graceful stop" : "stopping apps, then the core");
    spdlog::default_logger()->flush();
    auto steps_done = req.immediate
                          ? runtime::run_immediate_power(req.action, req.arg, pid1_ctx.power, steps)
                          : runtime::run_power_sequence(req.action, req.arg, pid1_ctx.power, steps);
    log_power(steps_done);
    caf::anon_send_exit(root, caf::exit_reason::user_shutdown);
    wait_fd(root_down, timeout);
    log->info("stopped for {}", runtime::to_string(req.action));
  } else {
    log->critical("the supervision tree gave up: {}", sys.render(*root_reason));
    exit_code = 1;
    failed = true;
  }
  reaping = false;
  reaper_thread.join();
  sys.registry().erase(actors::root_registry_name);
  ::close(sigfd);
  ::close(root_down);
  return {exit_code, failed};
}

/// The PID 1 context of this process, for the last-resort handlers below
/// (set once it is known, before any thread starts).
const pid1_context* current_pid1 = nullptr;
/// Whether the fatal-signal handler reboots (a device's PID 1 with
/// pid1.on_failure = reboot and no test hook).
volatile sig_atomic_t reboot_on_fatal_signal = 0;

/// The core itself faulted (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) as a
/// device's PID 1: the kernel would panic. Async-signal-safe: say so on the
/// console, sync the file systems, reboot (decision 0075). Elsewhere the
/// default action (a core dump to debug).
void on_fatal_signal(int sig) {
  static const char msg[] = "myelin-boot: fatal signal in the core; syncing and rebooting\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
  if (reboot_on_fatal_signal != 0) {
    ::sync();
    ::reboot(RB_AUTOBOOT);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_fatal_signal_handlers(const pid1_context& ctx) {
  reboot_on_fatal_signal = ctx.real && !ctx.hook && !ctx.hang_on_failure ? 1 : 0;
  if (!ctx.real) {
    return;  // not a device's PID 1: crash normally, with a core dump
  }
  // Its own stack, so that a stack overflow of the main thread still reboots
  // (other threads' overflows kill the process: the kernel panics, and
  // panic=N on the kernel command line reboots).
  static std::vector<char> alt(1 << 16);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  ::sigaltstack(&ss, nullptr);
  struct sigaction sa {};
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) {
    ::sigaction(sig, &sa, nullptr);
  }
}

/// An exception nobody caught (std::terminate): logged, then what PID 1 does
/// on a failure of the runtime (sync and reboot, or hang), never a kernel panic.
[[noreturn]] void on_terminate() {
  std::string what = "no exception";
  if (auto e = std::current_exception()) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      what = x.what();
    } catch (...) {
      what = "an exception that is not a std::exception";
    }
  }
  if (auto log = spdlog::get("boot")) {
    log->critical("std::terminate: {}", what);
    log->flush();
  } else {
    std::fprintf(stderr, "myelin-boot: std::terminate: %s\n", what.c_str());
  }
  if (current_pid1 != nullptr && current_pid1->mode) {
    ::sync();
    pid1_end(1, true, *current_pid1);
  }
  std::abort();
}

int boot_main_unguarded(int argc, char** argv);

}  // namespace

int boot_main(int argc, char** argv) {
  std::set_terminate(on_terminate);
  try {
    return boot_main_unguarded(argc, argv);
  } catch (const std::exception& e) {
    // Escaped the boot sequence: a failure of the runtime.
    if (auto log = spdlog::get("boot")) {
      log->critical("boot failed: {}", e.what());
    } else {
      std::fprintf(stderr, "myelin-boot: boot failed: %s\n", e.what());
    }
    if (current_pid1 != nullptr) {
      return pid1_end(1, true, *current_pid1);
    }
    return 1;
  }
}

namespace {

int boot_main_unguarded(int argc, char** argv) {
  auto t0 = steady::now();

  // Signals are taken synchronously through a signalfd: block them before any
  // thread exists so that every thread inherits the mask.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGCHLD);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  CLI::App app{"myelin-boot: the boot layer and supervision tree of a myelin device"};
  std::string config_path;
  std::vector<std::string> overrides;
  bool check_only = false;
  bool show_version = false;
  app.add_option("-c,--config", config_path, "TOML configuration file");
  app.add_option("--set", overrides, "Override a configuration key: section.key=value")
      ->type_name("KEY=VALUE");
  app.add_flag("--check-config", check_only,
               "Validate the configuration (file and --set) and exit: 0 valid, 2 invalid");
  app.add_flag("--version", show_version, "Print the version and exit");
  bool foreground = false;
  app.add_flag("--foreground", foreground,
               "Take the terminal's foreground, so Ctrl-C reaches only myelin-boot (make run)");
  bool pid1_flag = false;
  app.add_flag("--pid1", pid1_flag,
               "PID 1 duties even when not PID 1 (automatic as PID 1): mounts, hostname, "
               "reaping every child, SIGTERM/SIGUSR1/SIGUSR2 = reboot/halt/poweroff");
  std::string power_hook;
  app.add_option("--test-power-hook", power_hook,
                 "TESTS ONLY: record reboot/halt/poweroff system calls in FILE and exit "
                 "instead; refused in the initial PID namespace (on a real device)")
      ->type_name("FILE");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  pid1_context pid1_ctx;
  pid1_ctx.real = getpid() == 1;
  pid1_ctx.mode = pid1_ctx.real || pid1_flag;
  if (pid1_ctx.mode) {
    // Halt and poweroff requests; still no thread exists.
    sigaddset(&stop_signals, SIGUSR1);
    sigaddset(&stop_signals, SIGUSR2);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  }
  pid1_ctx.signals = stop_signals;
  // The kernel starts /sbin/init without arguments: a device's configuration
  // is then the image's /etc/myelin/myelin.toml (docs/device-image.md).
  if (config_path.empty() && pid1_ctx.real && ::access(device_config_path, F_OK) == 0) {
    config_path = device_config_path;
  }
  std::optional<terminal_foreground> terminal;
  if (foreground) {
    terminal.emplace();
  }
  if (show_version) {
    std::cout << "myelin-boot " << runtime::version() << "\n";
    return 0;
  }

  // A config error must not brick a device (decision 0074): a file that is
  // not TOML (or unreadable) boots on the last good configuration, else the
  // defaults; a section with an error takes that section from there; the
  // rest of the file counts. Command-line overrides are the operator's own
  // input, so a bad one is refused outright.
  runtime::config cfg;
  std::string config_text;
  std::vector<runtime::config_issue> config_issues;
  if (!config_path.empty()) {
    auto text = runtime::read_config_text(config_path);
    auto parsed = text ? runtime::parse_config_sections(*text, config_path, nullptr, config_issues)
                       : caf::expected<runtime::config>{text.error()};
    if (parsed) {
      cfg = std::move(*parsed);
      config_text = std::move(*text);
    } else {
      config_issues.push_back({"*", runtime::describe(parsed.error())});
    }
  }
  auto apply_overrides = [&overrides](runtime::config& c) -> std::string {
    for (const auto& o : overrides) {
      if (auto err = runtime::apply_override(c, o)) {
        return runtime::describe(err);
      }
    }
    return {};
  };
  std::string override_error = apply_overrides(cfg);
  if (!override_error.empty() && (check_only || !pid1_ctx.mode)) {
    std::cerr << "myelin-boot: " << override_error << "\n";
    return 2;
  }
  auto issue_text = [](const runtime::config_issue& i) {
    return i.section == "*" ? i.message : "[" + i.section + "] " + i.message;
  };
  if (check_only) {
    // The semantic checks the boot makes (decision 0074): at boot each of
    // these falls back, here it is an error.
    auto state = cfg.get_string("state.dir");
    if (auto kv = actors::kv_options_from(cfg, state); !kv) {
      config_issues.push_back({"kv", runtime::describe(kv.error())});
    }
    if (auto ov = actors::overlay_options_from(cfg, state); !ov) {
      config_issues.push_back({"overlays", runtime::describe(ov.error())});
    }
    for (const auto& text : cfg.get_list("firmware.trusted_keys")) {
      if (auto key = runtime::parse_public_key(text); !key) {
        config_issues.push_back(
            {"firmware", "firmware.trusted_keys: '" + text + "' is not an ed25519 key (" +
                             runtime::describe(key.error()) + "); the boot leaves it out"});
      }
    }
    for (const auto& i : config_issues) {
      std::cerr << "myelin-boot: " << issue_text(i) << "\n";
    }
    if (!config_issues.empty()) {
      return 2;
    }
    std::cout << "configuration ok" << (config_path.empty() ? "" : ": " + config_path) << "\n";
    return 0;
  }

  setup_logging(cfg.get_string("log.level"));
  runtime::start_logging(cfg);
  auto log = spdlog::get("boot");
  for (const auto& i : config_issues) {
    log->error("config: {}; {}", issue_text(i),
               i.section == "*" ? "booting on the last good configuration, else the defaults"
                                : "that section runs on the last good configuration, else the "
                                  "defaults");
  }

  pid1_ctx.hang_on_failure = cfg.get_string("pid1.on_failure") == "hang";
  current_pid1 = &pid1_ctx;
  pid1_ctx.power = power_options_from(cfg);
  pid1_ctx.steps = runtime::default_power_steps();
  if (!power_hook.empty()) {
    if (pid1::in_initial_pid_namespace()) {
      log->error(
          "--test-power-hook refused: this is the initial PID namespace (a real "
          "device), so reboot/halt/poweroff stay real");
    } else {
      pid1_ctx.hook = true;
      pid1_ctx.steps.system_call = pid1::recording_system_call(power_hook);
      log->warn("TEST HOOK: reboot/halt/poweroff system calls are recorded in {}", power_hook);
    }
  }
  install_fatal_signal_handlers(pid1_ctx);
  if (!override_error.empty()) {
    // As PID 1 there is nobody to read an exit code: a bad --set (the kernel
    // command line, say) is a failure of the runtime.
    log->critical("{}", override_error);
    return pid1_end(2, true, pid1_ctx);
  }
  if (pid1_ctx.mode) {
    log->info("PID 1 mode (pid {}{})", getpid(), pid1_ctx.real ? "" : ", --pid1");
    if (cfg.get_bool("pid1.mount")) {
      for (const auto& line : pid1::mount_essentials()) {
        if (line.rfind("mount ", 0) == 0) {
          log->error("pid1: {}", line);
        } else {
          log->info("pid1: {}", line);
        }
      }
    }
    child_reaper::instance().reap_all(true);
  }

  std::error_code ec;
  auto state_dir = std::filesystem::absolute(cfg.get_string("state.dir"), ec);
  auto partition = prepare_app_partition(cfg, state_dir.string());
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    log->error("state directory {}: {}", state_dir.string(), ec.message());
  }

  // The last good configuration: the file as it was at the last boot that
  // found no issue, on the app partition (decision 0074).
  auto last_good_path = (state_dir / "config" / "last-good.toml").string();
  std::optional<runtime::config> last_good;
  if (std::filesystem::exists(last_good_path, ec)) {
    if (auto lg = runtime::load_config(last_good_path)) {
      last_good = std::move(*lg);
    } else {
      log->error("config: the last good configuration is unusable: {}",
                 runtime::describe(lg.error()));
    }
  }
  std::string config_fallback = "defaults";
  if (!config_issues.empty() && last_good) {
    bool whole = std::any_of(config_issues.begin(), config_issues.end(),
                             [](const auto& i) { return i.section == "*"; });
    std::vector<runtime::config_issue> again;
    auto rebuilt =
        whole ? caf::expected<runtime::config>{*last_good}
              : runtime::parse_config_sections(config_text, config_path, &*last_good, again);
    if (rebuilt) {
      cfg = std::move(*rebuilt);
      apply_overrides(cfg);
      config_fallback = "last good " + last_good_path;
      log->warn("config: {} taken from {}", whole ? "everything" : "the broken sections",
                last_good_path);
    }
  }

  // Test hooks (decision 0075): never on a device's PID 1, whatever the
  // config or the kernel command line says.
  if (!cfg.get_list("testing.faults").empty() || cfg.get_int("testing.overlay_crash_at") != 0) {
    if (pid1_ctx.real && pid1::in_initial_pid_namespace()) {
      log->error("[testing] refused: test hooks never run as a device's PID 1");
      cfg.reset_section("testing", nullptr);
    } else {
      log->warn("TEST HOOK: [testing] faults {}, overlay crash point {}",
                join(cfg.get_list("testing.faults")), cfg.get_int("testing.overlay_crash_at"));
      runtime::enable_test_faults(cfg.get_list("testing.faults"));
    }
  }
  caf::actor_system_config caf_cfg;
  caf_cfg.set("scheduler.max-threads",
              static_cast<size_t>(cfg.get_int("runtime.scheduler_threads")));
  caf_cfg.set("scheduler.policy",
              caf::atom_from_string(cfg.get_string("runtime.scheduler_policy")));
  sup::add_error_category(caf_cfg);
  caf_cfg.load<caf::io::middleman>();
  link::register_types(caf_cfg);
  int exit_code = 0;
  bool runtime_failed = false;
  {
    caf::actor_system sys{caf_cfg};
    auto mailbox = std::make_shared<power_mailbox>();
    auto progress = std::make_shared<actors::boot_progress>();
    progress->started = t0;
    for (const auto& i : config_issues) {
      progress->add_config_issue(i.section, i.message);
    }
    progress->config_fallback(config_fallback);
    auto root = start_tree(
        sys, cfg, state_dir.string(),
        [mailbox](runtime::power_action a, const std::string& arg, bool immediate) {
          mailbox->post(a, arg, immediate);
        },
        partition, progress, last_good ? &*last_good : nullptr);
    if (!root) {
      log->critical("boot failed: {}", sys.render(root.error()));
      exit_code = 1;
      runtime_failed = true;
    } else {
      save_last_good(config_text, last_good_path, *progress);
      std::tie(exit_code, runtime_failed) = run_until_stop(
          sys, *root, cfg, state_dir.string(), *progress, *mailbox, pid1_ctx, stop_signals);
    }
  }
  exit_code = pid1_end(exit_code, runtime_failed, pid1_ctx);
  spdlog::shutdown();
  return exit_code;
}

}  // namespace

}  // namespace myelin::bootloader
