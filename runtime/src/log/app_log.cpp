// The app hosts' spdlog sink: syslog datagrams to myelin-boot's log socket.
#include "myelin/runtime/log/app_log.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <mutex>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "myelin/runtime/log/log_hub.hpp"
#include "myelin/runtime/log/log_ring.hpp"

namespace myelin::runtime {

namespace {

class app_datagram_sink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  app_datagram_sink(std::string app, std::string path)
      : app_(std::move(app)), path_(std::move(path)), pid_(::getpid()) {}
  ~app_datagram_sink() override {
    if (fd_ >= 0) {
      ::close(fd_);
    }
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto pri = 8 + severity_of_level(msg.level);
    std::string_view text{msg.payload.data(), msg.payload.size()};
    if (dropped_ > 0) {
      auto note = std::to_string(dropped_) + " log lines dropped (the log socket was full)";
      if (send(4 + 8, note)) {
        dropped_ = 0;
      }
    }
    if (!send(pri, text)) {
      if (fd_ < 0) {
        // No log service: stderr, as before there was one.
        std::cerr << app_ << ": " << spdlog::level::to_string_view(msg.level).data() << ": " << text
                  << std::endl;
      } else {
        ++dropped_;
      }
    }
  }
  void flush_() override {}

 private:
  bool connect_socket() {
    if (fd_ >= 0) {
      return true;
    }
    if (path_.empty()) {
      return false;
    }
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path)) {
      return false;
    }
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    return fd_ >= 0;
  }

  /// One datagram; false if it could not be sent. A full queue is waited
  /// for up to 100 ms; a vanished server drops the connection (fd_ = -1).
  bool send(int pri, std::string_view text) {
    if (!connect_socket()) {
      return false;
    }
    auto line = "<" + std::to_string(pri) + ">app/" + app_ + "[" + std::to_string(pid_) + "]: ";
    line.append(text.data(), text.size());
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (::send(fd_, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
        return true;
      }
      if (errno != EAGAIN) {
        ::close(fd_);
        fd_ = -1;
        // The log service may have restarted: one fresh connection.
        if (attempt == 0 && connect_socket()) {
          continue;
        }
        return false;
      }
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 100);
    }
    return false;
  }

  std::string app_;
  std::string path_;
  pid_t pid_;
  int fd_ = -1;
  uint64_t dropped_ = 0;
};

}  // namespace

void start_app_logging(const std::string& app) {
  const char* env = std::getenv(log_socket_env);
  auto sink = std::make_shared<app_datagram_sink>(app, env != nullptr ? env : "");
  auto logger = std::make_shared<spdlog::logger>(app, sink);
  logger->set_level(spdlog::level::info);
  spdlog::set_default_logger(logger);
  // The supervisors' reports of the app's tree are the app's lines too.
  spdlog::drop("supervisor");
  spdlog::register_logger(std::make_shared<spdlog::logger>("supervisor", sink));
}

}  // namespace myelin::runtime
