// A test app that tries, from inside its real app host, what no app may do
// (decision 0079), and answers what happened — one "name=result" line each:
//   probe SIBLING_PID OTHER_DATA_DIR CONTROL_PORT
// The signals are signal 0 (a permission check that delivers nothing), so a
// broken sandbox cannot hurt the machine running the tests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include <caf/all.hpp>

#include "myelin/app.hpp"

namespace {

std::string outcome(int rc) {
  return rc == 0 ? "allowed" : std::string{"refused:"} + std::strerror(errno);
}

/// The first line of what the control channel answers a GET.
std::string control_answer(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return std::string{"socket:"} + std::strerror(errno);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    auto why = std::string{"connect:"} + std::strerror(errno);
    ::close(fd);
    return why;
  }
  std::string request = "GET /v1/status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  (void)!::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  timeval timeout{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  for (ssize_t n; (n = ::recv(fd, buf, sizeof(buf), 0)) > 0;) {
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply.substr(0, reply.find("\r\n"));
}

std::string status_field(const std::string& name) {
  std::ifstream in{"/proc/self/status"};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) {
      auto v = line.substr(name.size() + 1);
      return v.substr(v.find_first_not_of(" \t"));
    }
  }
  return "?";
}

caf::expected<std::string> probe(myelin::app::context& ctx, const std::vector<std::string>& args) {
  if (args.size() != 3) {
    return caf::make_error(caf::sec::invalid_argument, "probe SIBLING_PID OTHER_DATA_DIR PORT");
  }
  auto sibling = static_cast<pid_t>(std::stol(args[0]));
  std::ostringstream out;
  out << "uid=" << ::getuid() << "\n";
  out << "cap_eff=" << status_field("CapEff") << "\n";
  out << "cap_bnd=" << status_field("CapBnd") << "\n";
  out << "no_new_privs=" << status_field("NoNewPrivs") << "\n";
  out << "seccomp=" << status_field("Seccomp") << "\n";
  out << "ptrace_sibling=" << outcome(static_cast<int>(::ptrace(PTRACE_ATTACH, sibling, 0, 0)))
      << "\n";
  out << "kill_pid1=" << outcome(::kill(1, 0)) << "\n";
  out << "kill_core=" << outcome(::kill(::getppid(), 0)) << "\n";
  out << "kill_all=" << outcome(::kill(-1, 0)) << "\n";
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  rlimit more = lim;
  more.rlim_max = lim.rlim_max == RLIM_INFINITY ? RLIM_INFINITY : lim.rlim_max + 1;
  more.rlim_cur = more.rlim_max;
  out << "raise_rlimit=" << outcome(::setrlimit(RLIMIT_NOFILE, &more)) << "\n";
  out << "mount=" << outcome(::mount("none", "/mnt", "tmpfs", 0, nullptr)) << "\n";
  out << "unshare_user=" << outcome(::unshare(CLONE_NEWUSER)) << "\n";
  out << "reboot_syscall=" << outcome(::reboot(0)) << "\n";
  auto other = args[1] + "/stolen";
  out << "other_data=" << outcome(::creat(other.c_str(), 0600) >= 0 ? 0 : -1) << "\n";
  auto mine = ctx.data_dir() + "/mine";
  int fd = ::creat(mine.c_str(), 0600);
  out << "own_data=" << outcome(fd >= 0 ? 0 : -1) << "\n";
  if (fd >= 0) {
    ::close(fd);
  }
  char cwd[4096] = {};
  out << "cwd=" << (::getcwd(cwd, sizeof(cwd)) != nullptr ? cwd : "?") << "\n";
  out << "home=" << (std::getenv("HOME") != nullptr ? std::getenv("HOME") : "") << "\n";
  out << "control=" << control_answer(std::stoi(args[2])) << "\n";
  return out.str();
}

caf::behavior idle(caf::event_based_actor*) {
  return {[](caf::get_atom) { return std::string{"prober"}; }};
}

caf::expected<caf::actor> start(myelin::app::context& ctx) {
  myelin::supervisors::supervisor_flags flags;
  flags.name = "prober";
  auto worker = myelin::supervisors::worker(
      "idle", [](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        return sys.spawn(idle);
      });
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {worker});
}

}  // namespace

MYELIN_APP(myelin::app::definition{start, {{"probe", probe}}})
