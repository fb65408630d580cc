// The app host's end of the link (link.hpp): written directly by the threads
// that send, read by one dedicated thread, without a broker in between.
//
// Why: every CAF scheduling hop costs a thread wake-up. A service request of
// an app is written to the socket from the requesting actor's own context
// (through a service proxy actor, see proxy()), and the reader thread
// delivers the answer straight into the requester's mailbox. A round trip
// thus costs one wake-up of the reader and one of the requester, as close to a
// raw socketpair ping-pong as CAF allows (decision 0007).
//
// Subscriptions (uevent and net): a (un)subscribe request crosses as a
// subscribe frame tagged with the sender's actor id; the reader delivers the
// events of that tag into the sender's mailbox, and when the sender ends, a
// gone frame tells myelin-boot to drop its subscriptions.
//
// Messages the reader receives that are not responses or events (pings, command calls)
// go to the handler given to start(); a broken link, an oversized frame or an
// undecodable payload ends the reader, fails every request in flight with
// sec::request_receiver_down and calls the down handler once.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <caf/actor.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>
#include <caf/message_id.hpp>

namespace myelin::bootloader {

class link_client {
 public:
  /// Adopts the connected socket `fd` (blocking mode); closes it when destroyed.
  link_client(caf::actor_system& sys, int fd);
  ~link_client();

  link_client(const link_client&) = delete;
  link_client& operator=(const link_client&) = delete;

  /// Starts the reader thread. `on_message` runs on it for every frame that is
  /// not a response; it must not block, and returns false for a message that
  /// must close the link. `on_down` runs once when the link ends.
  void start(std::function<bool(caf::message&)> on_message, std::function<void()> on_down);

  /// Writes `msg` as one frame; thread-safe. False if it cannot be encoded or
  /// the link is down.
  bool send(const caf::message& msg);

  /// An actor standing in for the core service `service`: each message sent
  /// to it crosses the link as a request, written from the sender's thread,
  /// and the answer (or error) comes back to the sender as the response.
  caf::actor proxy(caf::atom_value service);

  /// Sends a request on behalf of `sender` (used by the proxies). The answer is
  /// delivered to `sender` as the response to `mid`, from `responder`.
  void request(caf::atom_value service, caf::message content, caf::strong_actor_ptr sender,
               caf::message_id mid, caf::strong_actor_ptr responder);

 private:
  struct pending {
    caf::strong_actor_ptr sender;
    caf::message_id mid;
    caf::strong_actor_ptr responder;
  };

  void read_loop();
  bool write_all(const char* data, size_t size);
  void fail_all();
  static void answer(pending& p, caf::message reply);

  /// True for the (un)subscribe requests, which are tagged with the sender.
  static bool is_subscription(caf::atom_value service, const caf::message& content);
  /// Remembers `sender` as the subscriber of its actor id (once) and returns the tag.
  uint64_t subscriber(const caf::strong_actor_ptr& sender);
  void deliver_event(uint64_t tag, caf::message event);

  caf::actor_system& sys_;
  std::mutex subscribers_mtx_;
  std::unordered_map<uint64_t, caf::weak_actor_ptr> subscribers_;
  int fd_;
  std::mutex write_mtx_;
  std::mutex pending_mtx_;
  std::unordered_map<uint64_t, pending> pending_;
  uint64_t next_id_ = 1;
  std::atomic<bool> down_{false};
  std::function<bool(caf::message&)> on_message_;
  std::function<void()> on_down_;
  std::thread reader_;
};

}  // namespace myelin::bootloader
