// The net service's reader thread (rtnetlink events, the udhcpc FIFO).
#include "net/net_watcher.hpp"

#include "myelin/actors/thread_failure.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <caf/send.hpp>

#include "myelin/actors/net.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/net/dhcp_event.hpp"

namespace myelin::actors {

namespace {

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("net");
  return l ? l : spdlog::default_logger();
}

}  // namespace

net_watcher::net_watcher(std::unique_ptr<runtime::rtnetlink> nl, int fifo_fd, caf::actor target)
    : nl_(std::move(nl)), fifo_fd_(fifo_fd), target_(std::move(target)) {
  thread_.start(
      "net.watch", [this](const runtime::stop_signal& stop) { run(stop); },
      exit_on_failure(target_));
}

net_watcher::~net_watcher() {
  thread_.stop();
  if (fifo_fd_ >= 0) {
    ::close(fifo_fd_);
  }
}

void net_watcher::send_snapshot() {
  auto snap = nl_->snapshot();
  if (!snap) {
    log()->warn("net: cannot read the network state: {}", runtime::describe(snap.error()));
    return;
  }
  caf::anon_send(target_, std::move(*snap));
}

void net_watcher::read_fifo() {
  char buf[4096];
  for (;;) {
    auto n = ::read(fifo_fd_, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return;
    }
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (c != '\n') {
        if (partial_.size() > runtime::max_dhcp_event_line) {
          discarding_ = true;
          partial_.clear();
        }
        if (!discarding_) {
          partial_ += c;
        }
        continue;
      }
      if (discarding_) {
        log()->warn("net: dropped a udhcpc event line longer than {} bytes",
                    runtime::max_dhcp_event_line);
      } else {
        caf::anon_send(target_, net_dhcp_atom::value, partial_);
      }
      partial_.clear();
      discarding_ = false;
    }
  }
}

void net_watcher::run(const runtime::stop_signal& stop) {
  // No snapshot at start: the service read one after both sockets were
  // subscribed, so every later change is queued on the event socket.
  uint64_t overflows = 0;
  for (;;) {
    pollfd fds[3] = {
        {stop.fd(), POLLIN, 0}, {nl_ ? nl_->event_fd() : -1, POLLIN, 0}, {fifo_fd_, POLLIN, 0}};
    int rc = ::poll(fds, 3, -1);
    if (rc < 0) {
      if (errno == EINTR) {
        continue;
      }
      log()->error("net: poll failed: {}", std::strerror(errno));
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      return;
    }
    if (fds[1].revents != 0) {
      if (!nl_->drain_events()) {
        ++overflows;
        log()->warn(
            "net: the kernel dropped network events ({} times so far); reading the "
            "whole state again",
            overflows);
      }
      send_snapshot();
    }
    if (fds[2].revents != 0) {
      read_fifo();
    }
  }
}

}  // namespace myelin::actors
