// myelin-apphost: runs one application module in its own process, linked to
// myelin-boot through an inherited socket (see link.hpp).
#include "myelin/bootloader/apphost.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <variant>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "apphost/apphost_args.hpp"
#include "apphost/context_base.hpp"
#include "apphost/link_client.hpp"
#include "apphost/module_loader.hpp"
#include "link/link.hpp"
#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/log/app_log.hpp"
#include "myelin/runtime/platform/thread_name.hpp"
#include "myelin/runtime/platform/version.hpp"

namespace myelin::bootloader {

namespace {

using namespace std::chrono_literals;

/// The app host's exit codes (myelin-boot reports them).
enum : int {
  exit_ok = 0,
  exit_app_failed = 1,
  exit_usage = 2,
  exit_module_refused = 78,  // EX_CONFIG
};

/// A command waiting for the command thread.
struct pending_command {
  uint64_t id;
  std::string name;
  std::vector<std::string> args;
};

/// Runs the app's commands one at a time on their own thread, so that a
/// command may block without stalling the app's scheduler.
class command_runner {
 public:
  command_runner(const app::definition* app, app::context* ctx) : app_(app), ctx_(ctx) {}

  ~command_runner() { stop(); }

  void start(link_client* link) {
    link_ = link;
    thread_ = std::thread([this] {
      runtime::name_this_thread("app.commands");
      loop();
    });
  }

  void post(pending_command cmd) {
    std::lock_guard<std::mutex> guard{mtx_};
    queue_.push_back(std::move(cmd));
    cv_.notify_one();
  }

  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
      cv_.notify_one();
    }
    if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  void loop() {
    while (true) {
      pending_command cmd;
      {
        std::unique_lock<std::mutex> lock{mtx_};
        cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
          return;
        }
        cmd = std::move(queue_.front());
        queue_.pop_front();
      }
      bool ok = false;
      std::string text;
      auto i = app_ != nullptr ? app_->commands.find(cmd.name) : decltype(app_->commands.end()){};
      if (app_ == nullptr || i == app_->commands.end()) {
        text = "unknown command '" + cmd.name + "'";
        if (app_ != nullptr) {
          std::string known;
          for (const auto& [name, fn] : app_->commands) {
            known += (known.empty() ? "" : ", ") + name;
          }
          text += " (known: " + (known.empty() ? std::string{"none"} : known) + ")";
        }
      } else {
        try {
          auto reply = i->second(*ctx_, cmd.args);
          ok = static_cast<bool>(reply);
          text = ok ? *reply : runtime::describe(reply.error());
        } catch (const std::exception& e) {
          text = std::string{"command threw: "} + e.what();
        } catch (...) {
          text = "command threw an unknown exception";
        }
      }
      link_->send(caf::make_message(link::reply_atom::value, cmd.id, ok, text));
    }
  }

  const app::definition* app_;
  app::context* ctx_;
  link_client* link_ = nullptr;
  std::thread thread_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<pending_command> queue_;
  bool stopping_ = false;
};

/// Answers heartbeats from the app's scheduler: a wedged scheduler stops the
/// pongs even though the link's reader thread still runs.
caf::behavior pulse(caf::event_based_actor*, link_client* link) {
  return {[link](link::ping_atom, uint64_t seq) {
    link->send(caf::make_message(link::pong_atom::value, seq));
  }};
}

/// What the app sees of its host.
class host_context : public context_base {
 public:
  using context_base::context_base;

  caf::actor kv() override { return kv_; }
  caf::actor firmware() override { return firmware_; }
  caf::actor uevent() override { return uevent_; }
  caf::actor net() override { return net_; }

  void services(caf::actor kv, caf::actor firmware, caf::actor uevent, caf::actor net) {
    kv_ = std::move(kv);
    firmware_ = std::move(firmware);
    uevent_ = std::move(uevent);
    net_ = std::move(net);
  }

 private:
  caf::actor kv_;
  caf::actor firmware_;
  caf::actor uevent_;
  caf::actor net_;
};

bool wait_readable(int fd, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  int rc = 0;
  do {
    rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

int notify_fd() {
  return eventfd(0, EFD_CLOEXEC);
}

void notify(int fd) {
  uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(fd, &one, sizeof(one));
}

}  // namespace

int apphost_main(int argc, char** argv) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  auto parsed = parse_apphost_args(argc, argv);
  if (auto* why = std::get_if<std::string>(&parsed)) {
    std::cerr << "myelin-apphost: " << *why << "\n\n" << apphost_usage();
    return exit_usage;
  }
  const auto& args = std::get<apphost_args>(parsed);
  if (args.version) {
    std::cout << "myelin-apphost " << runtime::version() << "\n";
    return exit_ok;
  }
  if (args.help) {
    std::cout << apphost_usage();
    return exit_ok;
  }
  const auto& name = args.app;
  const auto& module = args.module;
  int fd = args.link_fd;

  runtime::start_app_logging(name);
  // Load the module before the actor system exists (types a module brings
  // must be known before the system starts).
  auto loaded = load_module(module);

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", args.scheduler_threads);
  cfg.set("scheduler.policy", caf::atom_from_string(args.scheduler_policy));
  cfg.set("logger.verbosity", caf::atom("quiet"));
  link::register_types(cfg);
  supervisors::add_error_category(cfg);
  int exit_code = exit_ok;
  {
    caf::actor_system sys{cfg};
    host_context ctx{sys, name, std::filesystem::path{module}.parent_path().string(), args.target,
                     args.data_dir};
    command_runner commands{loaded ? loaded->app : nullptr, &ctx};
    // Intentionally leaked: the process ends with _Exit, and the reader
    // thread must outlive every actor that may still send through it.
    auto* link = new link_client{sys, fd};
    auto beat = sys.spawn(pulse, link);
    int link_down = notify_fd();
    link->start(
        [&commands, beat](caf::message& m) {
          if (m.match_elements<link::ping_atom, uint64_t>()) {
            caf::anon_send(beat, link::ping_atom::value, m.get_as<uint64_t>(1));
          } else if (m.match_elements<link::call_atom, uint64_t, std::string,
                                      std::vector<std::string>>()) {
            commands.post({m.get_as<uint64_t>(1), m.get_as<std::string>(2),
                           m.get_as<std::vector<std::string>>(3)});
          } else {
            std::cerr << "myelin-apphost: unexpected link message\n";
            return false;
          }
          return true;
        },
        [link_down] { notify(link_down); });
    commands.start(link);
    ctx.services(link->proxy(actors::kv_registry_name), link->proxy(actors::firmware_registry_name),
                 link->proxy(actors::uevent_registry_name), link->proxy(actors::net_registry_name));

    auto refuse = [&](const caf::error& err, int code) {
      auto reason = runtime::describe(err);
      std::cerr << "myelin-apphost[" << name << "]: " << reason << "\n";
      // Written synchronously; myelin-boot also sees the exit code.
      link->send(caf::make_message(link::failed_atom::value, reason));
      return code;
    };

    if (!loaded) {
      exit_code = refuse(loaded.error(), exit_module_refused);
    } else {
      caf::expected<caf::actor> root{caf::error{}};
      auto [start, start_name] = app::start_for(*loaded->app, args.target);
      try {
        root = (*start)(ctx);
      } catch (const std::exception& e) {
        root = runtime::make_error(runtime::config_errc::invalid_value,
                                   std::string{"start threw: "} + e.what());
      }
      if (!root || !*root) {
        exit_code = refuse(root ? runtime::make_error(runtime::config_errc::invalid_value,
                                                      "start returned no actor")
                                : root.error(),
                           exit_app_failed);
      } else {
        int root_down = notify_fd();
        (*root)->attach_functor([root_down] { notify(root_down); });
        link->send(caf::make_message(link::hello_atom::value, module, std::string{start_name}));
        int sigfd = signalfd(-1, &signals, SFD_CLOEXEC);
        pollfd fds[3] = {{sigfd, POLLIN, 0}, {link_down, POLLIN, 0}, {root_down, POLLIN, 0}};
        while (::poll(fds, 3, -1) < 0 && errno == EINTR) {
        }
        if ((fds[0].revents & POLLIN) != 0) {
          // Orderly stop: the app's tree first.
          caf::anon_send_exit(*root, caf::exit_reason::user_shutdown);
          wait_readable(root_down, 10s);
        } else if ((fds[1].revents & POLLIN) != 0) {
          // myelin-boot is gone: stop at once.
          std::cerr << "myelin-apphost[" << name << "]: lost the link to myelin-boot\n";
          std::_Exit(exit_ok);
        } else {
          std::cerr << "myelin-apphost[" << name << "]: the app's supervision tree gave up\n";
          exit_code = exit_app_failed;
        }
        ::close(sigfd);
        ::close(root_down);
      }
    }
    commands.stop();
    caf::anon_send_exit(beat, caf::exit_reason::user_shutdown);
    ::close(link_down);
    // Actors the app left behind must not keep the process alive.
    std::cout.flush();
    std::_Exit(exit_code);
  }
}

}  // namespace myelin::bootloader
