// The /dev/kmsg reader thread.
#include "myelin/runtime/log/kmsg_tailer.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "myelin/runtime/log/kmsg_record.hpp"

namespace myelin::runtime {

kmsg_tailer::kmsg_tailer(std::shared_ptr<log_hub> hub, kmsg_tailer_options opts)
    : hub_(std::move(hub)), opts_(std::move(opts)) {}

kmsg_tailer::~kmsg_tailer() {
  stop();
}

caf::error kmsg_tailer::start() {
  fd_ = ::open(opts_.path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd_ < 0) {
    return make_error(log_errc::cannot_open,
                      "cannot open " + opts_.path + ": " + std::strerror(errno));
  }
  if (!opts_.replay && hub_->counters().kmsg_last_seq == 0) {
    ::lseek(fd_, 0, SEEK_END);
  }
  thread_.start(
      "log.kmsg", [this](const stop_signal& stop) { run(stop); }, opts_.on_failure);
  return {};
}

void kmsg_tailer::stop() {
  thread_.stop();
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool kmsg_tailer::on_read(long n, int err, std::string_view data) {
  auto& c = hub_->counters();
  if (n < 0) {
    if (err == EPIPE) {
      // Overwritten under us; the next read returns the oldest record left,
      // and the sequence gap says how many we missed.
      ++c.kmsg_overruns;
      return true;
    }
    return err == EAGAIN || err == EINTR;
  }
  if (n == 0) {
    return true;
  }
  std::string why;
  auto rec = parse_kmsg_record(data.substr(0, static_cast<size_t>(n)), &why);
  if (!rec) {
    ++c.kmsg_malformed;
    hub_->dispatch(spdlog::level::info, log_origin::kernel, "kernel",
                   "[malformed kmsg record: " + why + "] " +
                       std::string{data.substr(0, static_cast<size_t>(n))});
    return true;
  }
  auto last = c.kmsg_last_seq.load();
  if (last != 0 && rec->sequence <= last) {
    // Read before by an earlier tailer of this process.
    return true;
  }
  if (last != 0 && rec->sequence > last + 1) {
    c.kmsg_lost += rec->sequence - last - 1;
  }
  c.kmsg_last_seq = rec->sequence;
  if (rec->facility() != 0 && rec->message.rfind("myelin[", 0) == 0) {
    return true;
  }
  ++c.kmsg_records;
  hub_->dispatch(level_of_severity(rec->level()), log_origin::kernel, "kernel", rec->message);
  return true;
}

void kmsg_tailer::run(const stop_signal& stop) {
  // A record is at most about 8 KiB (CONSOLE_EXT_LOG_MAX); a smaller buffer
  // makes read() fail with EINVAL.
  std::vector<char> buf(16384);
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop.fd(), POLLIN, 0}};
  for (;;) {
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno != EINTR) {
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      return;
    }
    if ((fds[0].revents & (POLLIN | POLLERR)) == 0) {
      continue;
    }
    // Drain what is there.
    for (;;) {
      auto n = ::read(fd_, buf.data(), buf.size());
      int err = n < 0 ? errno : 0;
      if (!on_read(n, err, std::string_view{buf.data(), n > 0 ? static_cast<size_t>(n) : 0})) {
        hub_->dispatch(spdlog::level::err, log_origin::core, "log",
                       std::string{"kmsg: read failed, tailer stopped: "} + std::strerror(err));
        return;
      }
      if (n == 0 || (n < 0 && err == EAGAIN)) {
        break;
      }
    }
  }
}

}  // namespace myelin::runtime
