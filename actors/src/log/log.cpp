// The log service actor: starts and stops the kmsg and syslog tailers and the
// rotating log file.
#include "myelin/actors/log.hpp"

#include <algorithm>
#include <filesystem>

#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "myelin/actors/registry.hpp"
#include "myelin/actors/thread_failure.hpp"
#include "myelin/runtime/log/kmsg_tailer.hpp"
#include "myelin/runtime/log/syslog_server.hpp"

namespace myelin::actors {

namespace {

/// Everything the service runs; stopped when the actor exits.
struct log_service {
  std::shared_ptr<runtime::log_hub> hub;
  std::unique_ptr<runtime::kmsg_tailer> kmsg;
  std::unique_ptr<runtime::syslog_server> syslog;
  spdlog::sink_ptr file;
  std::string summary;

  void stop() {
    if (syslog) {
      syslog->stop();
    }
    if (kmsg) {
      kmsg->stop();
    }
    if (file) {
      hub->remove_sink(file);
      file.reset();
    }
  }
};

void add(std::string& summary, const std::string& part) {
  summary += (summary.empty() ? "" : "; ") + part;
}

}  // namespace

log_options log_options_from(const runtime::config& cfg, const std::string& state_dir) {
  log_options o;
  o.kmsg = cfg.get_bool("log.kmsg");
  o.kmsg_path = cfg.get_string("log.kmsg_path");
  o.kmsg_replay = cfg.get_bool("log.kmsg_replay");
  o.syslog = cfg.get_bool("log.syslog");
  o.syslog_socket = runtime::syslog_socket_path(cfg);
  auto file = cfg.get_string("log.file");
  if (!file.empty()) {
    std::filesystem::path p{file};
    o.file = (p.is_relative() ? std::filesystem::path{state_dir} / p : p).string();
  }
  o.file_size = static_cast<uint64_t>(cfg.get_int("log.file_size"));
  o.file_count = static_cast<size_t>(cfg.get_int("log.file_count"));
  return o;
}

supervisors::start_fn log_start(log_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    auto svc = std::make_shared<log_service>();
    svc->hub = opts.hub ? opts.hub : runtime::log_hub::current();
    if (!svc->hub) {
      return runtime::make_error(runtime::log_errc::cannot_open, "logging is not set up");
    }
    auto log = svc->hub->logger("log");
    // The actor first: a reader thread that fails ends it (thread_failure.hpp).
    auto self = sys.spawn([svc](caf::event_based_actor*) -> caf::behavior {
      return {
          [svc](caf::get_atom) { return svc->summary; },
      };
    });
    self->attach_functor([svc] { svc->stop(); });
    auto relay = std::make_shared<failure_relay>();
    if (!opts.file.empty()) {
      try {
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path{opts.file}.parent_path(), ec);
        svc->file = std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
            opts.file, opts.file_size, opts.file_count);
        svc->file->set_pattern("%Y-%m-%dT%H:%M:%S.%f%z %l [%n] %v");
        svc->hub->add_sink(svc->file);
        add(svc->summary, "file " + opts.file);
      } catch (const spdlog::spdlog_ex& e) {
        log->error("log file {}: {}", opts.file, e.what());
        add(svc->summary, "file " + opts.file + " failed: " + e.what());
      }
    }
    if (opts.kmsg) {
      runtime::kmsg_tailer_options k;
      k.path = opts.kmsg_path;
      k.replay = opts.kmsg_replay;
      k.on_failure = failure_relay::handler(relay);
      svc->kmsg = std::make_unique<runtime::kmsg_tailer>(svc->hub, k);
      if (auto err = svc->kmsg->start()) {
        log->error("kmsg tailer: {}", runtime::describe(err));
        add(svc->summary, "kmsg failed: " + runtime::describe(err));
        svc->kmsg.reset();
      } else {
        add(svc->summary, "kmsg " + opts.kmsg_path);
      }
    }
    if (opts.syslog) {
      runtime::syslog_server_options s;
      s.path = opts.syslog_socket;
      s.max_datagram = std::max<size_t>(4096, svc->hub->ring()->max_message() + 512);
      s.on_failure = failure_relay::handler(relay);
      svc->syslog = std::make_unique<runtime::syslog_server>(svc->hub, s);
      if (auto err = svc->syslog->start()) {
        log->error("syslog server: {}", runtime::describe(err));
        add(svc->summary, "syslog failed: " + runtime::describe(err));
        svc->syslog.reset();
      } else {
        add(svc->summary, "syslog " + opts.syslog_socket);
      }
    }
    if (svc->summary.empty()) {
      svc->summary = "ring only";
    }
    log->info("serving {}", svc->summary);
    relay->arm(self);
    register_service(sys, log_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
