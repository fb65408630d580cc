// The syslog datagram server thread.
#include "myelin/runtime/log/syslog_server.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#include "myelin/runtime/log/syslog_message.hpp"

namespace myelin::runtime {

syslog_server::syslog_server(std::shared_ptr<log_hub> hub, syslog_server_options opts)
    : hub_(std::move(hub)), opts_(std::move(opts)) {}

syslog_server::~syslog_server() {
  stop();
}

caf::error syslog_server::start() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (opts_.path.empty() || opts_.path.size() >= sizeof(addr.sun_path)) {
    return make_error(log_errc::cannot_bind,
                      "syslog socket '" + opts_.path + "': the path must be 1.." +
                          std::to_string(sizeof(addr.sun_path) - 1) + " bytes");
  }
  std::memcpy(addr.sun_path, opts_.path.c_str(), opts_.path.size() + 1);
  auto why = [this](const std::string& what) {
    return "syslog socket " + opts_.path + ": " + what + ": " + std::strerror(errno);
  };
  struct stat st {};
  if (::lstat(opts_.path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return make_error(log_errc::cannot_bind,
                        "syslog socket " + opts_.path + ": exists and is not a socket");
    }
    // Somebody's socket: in use if a connect succeeds, else stale.
    int probe = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool alive = ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(probe);
    if (alive) {
      return make_error(log_errc::in_use,
                        "syslog socket " + opts_.path + ": another process serves it");
    }
    ::unlink(opts_.path.c_str());
  }
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    return make_error(log_errc::cannot_bind, why("socket"));
  }
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto err = make_error(log_errc::cannot_bind, why("bind"));
    ::close(fd_);
    fd_ = -1;
    return err;
  }
  ::chmod(opts_.path.c_str(), 0666);
  if (::lstat(opts_.path.c_str(), &st) == 0) {
    inode_ = st.st_ino;
  }
  int on = 1;
  ::setsockopt(fd_, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
  int rcvbuf = opts_.receive_buffer;
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  thread_.start(
      "log.syslog", [this](const stop_signal& stop) { run(stop); }, opts_.on_failure);
  return {};
}

void syslog_server::stop() {
  thread_.stop();
  if (fd_ >= 0) {
    struct stat st {};
    if (inode_ != 0 && ::lstat(opts_.path.c_str(), &st) == 0 && st.st_ino == inode_) {
      ::unlink(opts_.path.c_str());
    }
    ::close(fd_);
    fd_ = -1;
  }
}

namespace {

std::mutex users_mutex;
std::map<std::string, uint32_t, std::less<>>& users() {
  static std::map<std::string, uint32_t, std::less<>> map;
  return map;
}

}  // namespace

void app_users::set(const std::string& app, uint32_t uid) {
  std::lock_guard<std::mutex> guard{users_mutex};
  users()[app] = uid;
}

int64_t app_users::of(std::string_view app) {
  std::lock_guard<std::mutex> guard{users_mutex};
  auto it = users().find(app);
  return it == users().end() ? -1 : static_cast<int64_t>(it->second);
}

void syslog_server::on_datagram(std::string_view data, bool truncated, int64_t sender) {
  auto& c = hub_->counters();
  if (truncated) {
    ++c.syslog_truncated;
  }
  auto m = parse_syslog_message(data);
  if (!m.error.empty()) {
    ++c.syslog_malformed;
    if (m.message.empty()) {
      return;
    }
    hub_->dispatch(spdlog::level::info, log_origin::syslog, "syslog",
                   "[malformed: " + m.error + "] " + m.message);
    return;
  }
  ++c.syslog_records;
  auto level = level_of_severity(m.severity());
  if (m.ident.size() > 4 && m.ident.compare(0, 4, "app/") == 0) {
    auto app = std::string_view{m.ident}.substr(4);
    if (sender > 0 && sender != static_cast<int64_t>(::geteuid())) {
      auto owner = app_users::of(app);
      if (owner != sender) {
        ++c.syslog_malformed;
        hub_->dispatch(level, log_origin::syslog, "syslog:uid " + std::to_string(sender),
                       "[claims " + m.ident + "] " + m.message);
        return;
      }
    }
    hub_->dispatch(level, log_origin::app, app, m.message);
  } else if (m.ident.empty()) {
    hub_->dispatch(level, log_origin::syslog, "syslog", m.message);
  } else {
    hub_->dispatch(level, log_origin::syslog, "syslog:" + m.ident, m.message);
  }
}

void syslog_server::run(const stop_signal& stop) {
  // Datagrams are taken in batches (recvmmsg): one system call for many.
  constexpr size_t batch = 32;
  std::vector<char> bufs(batch * opts_.max_datagram);
  std::vector<mmsghdr> msgs(batch);
  std::vector<iovec> iovs(batch);
  // The sender's credentials (SO_PASSCRED): the kernel's word, not the text's.
  constexpr size_t control_size = CMSG_SPACE(sizeof(ucred));
  std::vector<char> controls(batch * control_size);
  pollfd fds[2] = {{fd_, POLLIN, 0}, {stop.fd(), POLLIN, 0}};
  for (;;) {
    int rc = ::poll(fds, 2, -1);
    if (rc < 0 && errno != EINTR) {
      return;
    }
    if ((fds[1].revents & POLLIN) != 0) {
      return;
    }
    for (;;) {
      for (size_t i = 0; i < batch; ++i) {
        iovs[i] = {bufs.data() + i * opts_.max_datagram, opts_.max_datagram};
        msgs[i] = {};
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
        msgs[i].msg_hdr.msg_control = controls.data() + i * control_size;
        msgs[i].msg_hdr.msg_controllen = control_size;
      }
      int n = ::recvmmsg(fd_, msgs.data(), batch, MSG_DONTWAIT, nullptr);
      if (n <= 0) {
        break;
      }
      for (int i = 0; i < n; ++i) {
        auto len = std::min<size_t>(msgs[i].msg_len, opts_.max_datagram);
        int64_t sender = -1;
        for (auto* cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr); cm != nullptr;
             cm = CMSG_NXTHDR(&msgs[i].msg_hdr, cm)) {
          if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS &&
              cm->cmsg_len >= CMSG_LEN(sizeof(ucred))) {
            ucred cred{};
            std::memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
            sender = cred.uid;
          }
        }
        on_datagram(
            std::string_view{bufs.data() + static_cast<size_t>(i) * opts_.max_datagram, len},
            (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0, sender);
      }
    }
  }
}

}  // namespace myelin::runtime
