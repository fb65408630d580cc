// myelin's logging: the shared sinks, the ring sink, the kmsg console and the
// set-up of myelin-boot's loggers from the [log] section.
#include "myelin/runtime/log/log_hub.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

namespace myelin::runtime {

caf::error make_error(log_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("log"),
                    caf::make_message(std::move(context))};
}

namespace {

/// Every record of a logger into the ring (the ring locks itself).
class ring_sink : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit ring_sink(std::shared_ptr<log_ring> ring) : ring_(std::move(ring)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    log_record r;
    r.time = msg.time;
    r.level = msg.level;
    r.origin = log_origin::core;
    r.source.assign(msg.logger_name.data(), msg.logger_name.size());
    r.message.assign(msg.payload.data(), msg.payload.size());
    ring_->push(std::move(r));
  }
  void flush_() override {}

 private:
  std::shared_ptr<log_ring> ring_;
};

/// The kernel log as console (PID 1 on a device): one write per record,
/// `<PRI>myelin[pid]: [source] message`. The kmsg tailer skips these lines.
/// Until the device can be opened (PID 1 logs before /dev is mounted) the
/// lines go to stdout.
class kmsg_sink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit kmsg_sink(std::string path) : path_(std::move(path)), pid_(::getpid()) { open(); }
  ~kmsg_sink() override {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (fd_ < 0 && !open()) {
      auto line = fmt::format("myelin: {} [{}] {}\n", spdlog::level::to_string_view(msg.level),
                              msg.logger_name, msg.payload);
      std::fwrite(line.data(), 1, line.size(), stdout);
      std::fflush(stdout);
      return;
    }
    auto line = fmt::format("<{}>myelin[{}]: [{}] {}", 8 + severity_of_level(msg.level), pid_,
                            msg.logger_name, msg.payload);
    // The kernel takes at most about 1 KiB per record.
    if (line.size() > 976) {
      line.resize(976);
    }
    line += '\n';
    [[maybe_unused]] auto n = ::write(fd_, line.data(), line.size());
  }
  void flush_() override {}

 private:
  bool open() {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC);
    return fd_ >= 0;
  }

  std::string path_;
  pid_t pid_;
  int fd_ = -1;
};

std::mutex current_mtx;
std::shared_ptr<log_hub> current_hub;

/// PID 1 of the initial PID namespace: a real device (before /proc is
/// mounted we cannot tell, and PID 1 then is one).
bool real_init() {
  if (::getpid() != 1) {
    return false;
  }
  struct stat st {};
  if (::stat("/proc/self/ns/pid", &st) != 0) {
    return true;
  }
  return st.st_ino == 0xEFFFFFFCU;  // PROC_PID_INIT_INO
}

}  // namespace

log_hub::log_hub(const logging_options& opts)
    : level_(opts.level),
      boot_id_(std::to_string(::getpid()) + "-" +
               std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count())),
      ring_(std::make_shared<log_ring>(opts.ring_size, opts.max_message)),
      ring_sink_(std::make_shared<ring_sink>(ring_)),
      extra_(std::make_shared<spdlog::sinks::dist_sink_mt>()) {
  if (opts.console == "kmsg") {
    echo_ = false;
    console_ = std::make_shared<kmsg_sink>(opts.kmsg_path);
  } else if (opts.console != "none") {
    console_ = std::make_shared<spdlog::sinks::stdout_color_sink_mt>();
    console_->set_pattern("%H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  if (!console_) {
    console_ = std::make_shared<spdlog::sinks::dist_sink_mt>();
  }
}

std::shared_ptr<spdlog::logger> log_hub::logger(const std::string& name) {
  if (auto l = spdlog::get(name)) {
    return l;
  }
  auto l = std::make_shared<spdlog::logger>(name, spdlog::sinks_init_list{});
  adopt(*l);
  l->set_level(level_);
  try {
    spdlog::register_logger(l);
  } catch (const spdlog::spdlog_ex&) {
    // Registered by another thread meanwhile.
    if (auto other = spdlog::get(name)) {
      return other;
    }
  }
  return l;
}

void log_hub::adopt(spdlog::logger& l) const {
  l.sinks() = {ring_sink_, console_, extra_};
}

void log_hub::dispatch(spdlog::level::level_enum level, log_origin origin, std::string_view source,
                       std::string_view message) {
  if (level < level_) {
    return;
  }
  log_record r;
  r.time = std::chrono::system_clock::now();
  r.level = level;
  r.origin = origin;
  r.source = std::string{source};
  r.message = std::string{message};
  // Kernel records are in the kernel's log already; syslog and app records
  // are not copied into it either (they would push the kernel's own lines
  // out of its buffer), only printed on stdout.
  bool console = echo_ && origin != log_origin::kernel && console_->should_log(level);
  bool extra = !extra_->sinks().empty();
  if (console || extra) {
    auto text = log_ring::clean(message, ring_->max_message());
    spdlog::details::log_msg msg{r.time, spdlog::source_loc{}, source, level, text};
    if (console) {
      console_->log(msg);
    }
    if (extra) {
      extra_->log(msg);
      // As the loggers do (flush_on info): a file that lags behind is no use
      // after a crash.
      if (level >= spdlog::level::info) {
        extra_->flush();
      }
    }
  }
  ring_->push(std::move(r));
}

void log_hub::add_sink(spdlog::sink_ptr sink) {
  extra_->add_sink(std::move(sink));
}

void log_hub::remove_sink(const spdlog::sink_ptr& sink) {
  extra_->remove_sink(sink);
}

std::shared_ptr<log_hub> log_hub::current() {
  std::lock_guard<std::mutex> guard{current_mtx};
  return current_hub;
}

void log_hub::set_current(std::shared_ptr<log_hub> hub) {
  std::lock_guard<std::mutex> guard{current_mtx};
  current_hub = std::move(hub);
}

logging_options logging_options_from(const config& cfg) {
  logging_options o;
  o.level = spdlog::level::from_str(cfg.get_string("log.level"));
  o.console = cfg.get_string("log.console");
  if (o.console == "auto") {
    o.console = real_init() ? "kmsg" : "stdout";
  }
  o.kmsg_path = cfg.get_string("log.kmsg_path");
  o.ring_size = static_cast<size_t>(cfg.get_int("log.ring_size"));
  o.max_message = static_cast<size_t>(cfg.get_int("log.max_message"));
  return o;
}

std::string syslog_socket_path(const config& cfg) {
  std::filesystem::path p{cfg.get_string("log.syslog_socket")};
  if (p.is_relative()) {
    std::error_code ec;
    p = std::filesystem::absolute(cfg.get_string("state.dir"), ec) / p;
  }
  return p.lexically_normal().string();
}

std::shared_ptr<log_hub> start_logging(const config& cfg) {
  auto hub = std::make_shared<log_hub>(logging_options_from(cfg));
  log_hub::set_current(hub);
  spdlog::apply_all([&hub](const std::shared_ptr<spdlog::logger>& l) { hub->adopt(*l); });
  for (const char* name : {"boot", "supervisor", "log"}) {
    hub->logger(name);
  }
  spdlog::set_default_logger(spdlog::get("boot"));
  spdlog::set_level(hub->level());
  spdlog::flush_on(spdlog::level::info);
  if (cfg.get_bool("log.syslog")) {
    ::setenv(log_socket_env, syslog_socket_path(cfg).c_str(), 1);
  } else {
    ::unsetenv(log_socket_env);
  }
  return hub;
}

}  // namespace myelin::runtime
