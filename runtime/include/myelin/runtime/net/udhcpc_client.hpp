// One udhcpc process (busybox) in the foreground for one interface: started,
// watched and stopped by pid by the net service.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <caf/error.hpp>

#include "myelin/runtime/platform/child_guard.hpp"

#include "myelin/runtime/platform/spawn.hpp"

namespace myelin::runtime {

/// Runs `<binary> -f -i <ifname> -s <script> -t 3 -T 2 -A 5`: foreground,
/// events to the script, retrying for ever. The process gets its own
/// process group, a clean signal mask, no inherited descriptors beyond
/// 0-2, and SIGTERM when the thread that started it ends. A child_guard
/// keeps a reap-all PID 1 from taking its exit status.
class udhcpc_client {
 public:
  udhcpc_client(std::string binary, std::string ifname, std::string script);
  /// Stops the process (see stop()).
  ~udhcpc_client();
  udhcpc_client(const udhcpc_client&) = delete;
  udhcpc_client& operator=(const udhcpc_client&) = delete;

  /// Asks for this address at the next start (-r IP), e.g. the lease of a
  /// udhcpc that died; empty: none.
  void request_ip(std::string ip) { requested_ip_ = std::move(ip); }

  /// Starts it. Error: net_errc::spawn_failed (fork failed; an exec failure
  /// shows up as an exit with code 127).
  caf::error start();

  /// The wait status if the process has exited (it is then reaped), else
  /// nullopt. Nothing runs: nullopt.
  std::optional<int> poll_exit();

  /// SIGTERM, up to `grace` for it to exit, then SIGKILL; reaps it.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds{2000});

  /// Sends `sig` (SIGUSR1: renew the lease, SIGUSR2: release it).
  void signal(int sig);

  /// The running process, or -1.
  pid_t pid() const { return pid_; }

  const std::string& ifname() const { return ifname_; }

 private:
  std::string binary_;
  std::string ifname_;
  std::string script_;
  std::string requested_ip_;
  pid_t pid_ = -1;
  std::unique_ptr<child_guard> guard_;
};

}  // namespace myelin::runtime
