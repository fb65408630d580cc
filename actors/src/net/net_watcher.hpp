// The net service's reader thread: waits on the rtnetlink event socket and
// the udhcpc event FIFO, and hands what it reads to the service actor.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include <caf/actor.hpp>

#include "myelin/runtime/net/rtnetlink.hpp"
#include "myelin/runtime/platform/stop_signal.hpp"

namespace myelin::actors {

/// A dedicated thread (not a CAF scheduler thread: libnl calls block, and a
/// netlink datagram socket is no scribe a 0.17 broker could adopt). It
/// sends the target a runtime::net_snapshot after every change
/// (events are drained first, so a burst gives one snapshot; an overflow
/// is logged and answered by a snapshot too), and (net_dhcp_atom, line)
/// for each line read from the FIFO. Destruction stops and joins it.
class net_watcher {
 public:
  /// `nl` may be null (no netlink: only the FIFO is read); `fifo_fd` may
  /// be -1 (no DHCP). Takes ownership of both.
  net_watcher(std::unique_ptr<runtime::rtnetlink> nl, int fifo_fd, caf::actor target);
  ~net_watcher();
  net_watcher(const net_watcher&) = delete;
  net_watcher& operator=(const net_watcher&) = delete;

 private:
  void run(const runtime::stop_signal& stop);
  void send_snapshot();
  void read_fifo();

  std::unique_ptr<runtime::rtnetlink> nl_;
  int fifo_fd_;
  caf::actor target_;
  std::string partial_;
  bool discarding_ = false;
  runtime::service_thread thread_;  // last: stopped before the rest goes
};

}  // namespace myelin::actors
