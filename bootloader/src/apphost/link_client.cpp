// The app host's end of the link: direct writes, one reader thread.
#include "apphost/link_client.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_config.hpp>
#include <caf/actor_system.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/make_actor.hpp>
#include <caf/monitorable_actor.hpp>
#include <caf/sec.hpp>

#include "link/link.hpp"
#include "myelin/actors/net.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/runtime/platform/thread_name.hpp"

namespace myelin::bootloader {

namespace {

/// Stands in for a core service in the app host: hands every message to the
/// link client in the sender's context (no mailbox, no scheduling).
class service_proxy final : public caf::monitorable_actor {
 public:
  service_proxy(caf::actor_config& cfg, link_client* client, caf::atom_value service)
      : caf::monitorable_actor(cfg), client_(client), service_(service) {}

  void enqueue(caf::mailbox_element_ptr what, caf::execution_unit*) override {
    if (what->mid.is_response()) {
      return;
    }
    auto content = what->move_content_to_message();
    client_->request(service_, std::move(content), std::move(what->sender), what->mid,
                     caf::strong_actor_ptr{ctrl()});
  }

  const char* name() const override { return "service_proxy"; }

 private:
  link_client* client_;
  caf::atom_value service_;
};

}  // namespace

link_client::link_client(caf::actor_system& sys, int fd) : sys_(sys), fd_(fd) {}

link_client::~link_client() {
  ::shutdown(fd_, SHUT_RDWR);
  if (reader_.joinable()) {
    reader_.join();
  }
  ::close(fd_);
}

void link_client::start(std::function<bool(caf::message&)> on_message,
                        std::function<void()> on_down) {
  on_message_ = std::move(on_message);
  on_down_ = std::move(on_down);
  reader_ = std::thread([this] {
    runtime::name_this_thread("link.read");
    read_loop();
  });
}

bool link_client::write_all(const char* data, size_t size) {
  std::lock_guard<std::mutex> guard{write_mtx_};
  while (size > 0) {
    auto n = ::send(fd_, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

bool link_client::send(const caf::message& msg) {
  if (down_) {
    return false;
  }
  auto frame = link::encode(sys_, msg);
  return frame && write_all(frame->data(), frame->size());
}

caf::actor link_client::proxy(caf::atom_value service) {
  caf::actor_config cfg;
  return caf::make_actor<service_proxy, caf::actor>(sys_.next_actor_id(), sys_.node(), &sys_, cfg,
                                                    this, service);
}

void link_client::answer(pending& p, caf::message reply) {
  if (!p.sender || !p.mid.is_request()) {
    return;
  }
  p.sender->enqueue(
      caf::make_mailbox_element(std::move(p.responder), p.mid.response_id(), {}, std::move(reply)),
      nullptr);
}

bool link_client::is_subscription(caf::atom_value service, const caf::message& content) {
  auto op = content.get_as<caf::atom_value>(0);
  using namespace actors;
  if (service == uevent_registry_name) {
    return op == uevent_subscribe_atom::value || op == uevent_unsubscribe_atom::value;
  }
  if (service == net_registry_name) {
    return op == net_subscribe_atom::value || op == net_unsubscribe_atom::value;
  }
  return false;
}

uint64_t link_client::subscriber(const caf::strong_actor_ptr& sender) {
  auto tag = static_cast<uint64_t>(sender->id());
  {
    std::lock_guard<std::mutex> guard{subscribers_mtx_};
    if (!subscribers_.emplace(tag, caf::weak_actor_ptr{sender.get()}).second) {
      return tag;
    }
  }
  // The link client is never destroyed before the process ends (apphost.cpp).
  sender->get()->attach_functor([this, tag] {
    {
      std::lock_guard<std::mutex> guard{subscribers_mtx_};
      subscribers_.erase(tag);
    }
    send(caf::make_message(link::gone_atom::value, tag));
  });
  return tag;
}

void link_client::deliver_event(uint64_t tag, caf::message event) {
  caf::strong_actor_ptr target;
  {
    std::lock_guard<std::mutex> guard{subscribers_mtx_};
    auto i = subscribers_.find(tag);
    if (i != subscribers_.end()) {
      target = i->second.lock();
    }
  }
  if (target) {
    target->enqueue(
        caf::make_mailbox_element(nullptr, caf::make_message_id(), {}, std::move(event)), nullptr);
  }
}

void link_client::request(caf::atom_value service, caf::message content,
                          caf::strong_actor_ptr sender, caf::message_id mid,
                          caf::strong_actor_ptr responder) {
  pending p{std::move(sender), mid, std::move(responder)};
  auto refuse = [&](caf::error err) { answer(p, caf::make_message(std::move(err))); };
  if (content.empty() || !content.match_element<caf::atom_value>(0)) {
    return refuse(caf::make_error(caf::sec::unexpected_message, "malformed service request"));
  }
  if (down_) {
    return refuse(
        caf::make_error(caf::sec::request_receiver_down, "the link to myelin-boot is down"));
  }
  uint64_t id = 0;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    id = next_id_++;
  }
  caf::expected<std::vector<char>> frame{std::vector<char>{}};
  if (is_subscription(service, content)) {
    if (!p.sender) {
      return refuse(
          caf::make_error(caf::sec::invalid_argument, "subscriptions must be sent from an actor"));
    }
    auto tag = subscriber(p.sender);
    frame = link::encode(sys_,
                         caf::make_message(link::subscribe_atom::value, id, tag, service, content));
  } else {
    frame = link::encode(sys_, caf::make_message(link::request_atom::value, id, service, content));
  }
  if (!frame) {
    return refuse(caf::make_error(caf::sec::invalid_argument,
                                  "this request cannot cross to the core services"));
  }
  bool wants_answer = p.sender && mid.is_request();
  if (wants_answer) {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    pending_.emplace(id, std::move(p));
  }
  if (!write_all(frame->data(), frame->size()) && wants_answer) {
    std::unique_lock<std::mutex> guard{pending_mtx_};
    auto i = pending_.find(id);
    if (i != pending_.end()) {
      auto lost = std::move(i->second);
      pending_.erase(i);
      guard.unlock();
      answer(lost, caf::make_message(caf::make_error(caf::sec::request_receiver_down,
                                                     "the link to myelin-boot is down")));
    }
  }
}

void link_client::fail_all() {
  std::unordered_map<uint64_t, pending> lost;
  {
    std::lock_guard<std::mutex> guard{pending_mtx_};
    lost.swap(pending_);
  }
  for (auto& [id, p] : lost) {
    answer(p, caf::make_message(caf::make_error(caf::sec::request_receiver_down,
                                                "the link to myelin-boot is down")));
  }
}

void link_client::read_loop() {
  std::vector<char> buf(64 * 1024);
  size_t have = 0;
  bool ok = true;
  while (ok) {
    auto n = ::read(fd_, buf.data() + have, buf.size() - have);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      break;
    }
    have += static_cast<size_t>(n);
    size_t pos = 0;
    while (have - pos >= 4) {
      auto size = link::payload_size(buf.data() + pos);
      if (size == 0 || size > link::max_payload) {
        ok = false;
        break;
      }
      if (have - pos - 4 < size) {
        if (buf.size() < size + 4) {
          buf.resize(size + 4);
        }
        break;
      }
      auto decoded = link::decode(sys_, buf.data() + pos + 4, size);
      pos += 4 + size;
      if (!decoded) {
        ok = false;
        break;
      }
      auto& m = *decoded;
      if (m.match_elements<link::response_atom, uint64_t, caf::message>()) {
        std::unique_lock<std::mutex> guard{pending_mtx_};
        auto i = pending_.find(m.get_as<uint64_t>(1));
        if (i != pending_.end()) {
          auto p = std::move(i->second);
          pending_.erase(i);
          guard.unlock();
          answer(p, m.get_as<caf::message>(2));
        }
      } else if (m.match_elements<link::event_atom, uint64_t, caf::message>()) {
        deliver_event(m.get_as<uint64_t>(1), m.get_as<caf::message>(2));
      } else if (!on_message_ || !on_message_(m)) {
        ok = false;
        break;
      }
    }
    if (pos > 0) {
      std::memmove(buf.data(), buf.data() + pos, have - pos);
      have -= pos;
    }
  }
  down_ = true;
  fail_all();
  if (on_down_) {
    on_down_();
  }
}

}  // namespace myelin::bootloader
