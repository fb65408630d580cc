// A hostile app host (issue 18): speaks the link protocol, then misbehaves.
// myelin-boot starts it as its app host (apphost.path); for an app whose name
// is not hostile_<mode> it runs the real app host ($MYELIN_REAL_APPHOST) with
// the same arguments, so other apps run normally beside it.
//
// Modes (the app name's suffix): deep (a message nested ~250,000 deep in one
// 3.75 MB frame), seqlie (a list announcing 2^31 elements), bigstring (a
// 2 MiB string in a request), badtype (an actor handle), oversized (a frame
// header announcing 64 MiB), garbage (random bytes), truncated (half a frame,
// then the socket closed); what the core must not hold for it: flood (3,000
// kv writes at once: more than 256 in flight), subflood (2,000 uevent
// subscriptions), noread (requests whose 1 MiB answers it never reads);
// what it was never asked: blindpong (pongs for pings never sent), fakereply
// (a reply to a call never made). It sends a well-formed hello first.
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>

#include "link/link.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/runtime/kv/kv_store.hpp"

namespace ml = myelin::bootloader::link;

namespace {

int fd = 3;

void write_all(const std::vector<char>& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) {
      return;
    }
    done += static_cast<size_t>(n);
  }
}

/// Reads and drops `count` frames from the core (answers, pings), waiting at
/// most `timeout_ms` in all; false when the link closed.
bool skip_frames(uint64_t count, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{timeout_ms};
  auto read_exact = [&](char* into, size_t n) {
    size_t got = 0;
    while (got < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      pollfd p{fd, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) {
        return false;
      }
      auto r = ::read(fd, into + got, n - got);
      if (r <= 0) {
        return false;
      }
      got += static_cast<size_t>(r);
    }
    return true;
  };
  for (uint64_t i = 0; i < count; ++i) {
    unsigned char len[4];
    if (!read_exact(reinterpret_cast<char*>(len), 4)) {
      return false;
    }
    size_t size = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<size_t>(len[3]) << 24);
    std::vector<char> skip(size);
    if (size > 0 && !read_exact(skip.data(), size)) {
      return false;
    }
  }
  return true;
}

std::vector<char> frame(const std::vector<char>& payload) {
  std::vector<char> out(4);
  auto size = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) {
    out[static_cast<size_t>(i)] = static_cast<char>((size >> (8 * i)) & 0xFF);
  }
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

std::vector<char> payload_of(caf::actor_system& sys, const caf::message& msg) {
  std::vector<char> out;
  caf::binary_serializer sink{sys, out};
  sink(const_cast<caf::message&>(msg));
  return out;
}

/// A message whose type token is `token`, followed by `body` as its data.
std::vector<char> raw_message(caf::actor_system& sys, const std::string& token,
                              const std::vector<char>& body) {
  std::vector<char> out;
  caf::binary_serializer sink{sys, out};
  uint16_t zero = 0;
  std::string name = token;
  sink.begin_object(zero, name);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

void misbehave(caf::actor_system& sys, const std::string& mode) {
  if (mode == "deep") {
    // One level: type number 0, then the type token of a message holding a
    // message (CAF's own make_message would flatten it).
    std::string token = "@<>+@message";
    std::vector<char> level{0, 0, static_cast<char>(token.size())};
    level.insert(level.end(), token.begin(), token.end());
    auto inner = payload_of(sys, caf::message{});
    std::vector<char> p;
    size_t depth = (3750000 - inner.size()) / level.size();
    p.reserve(depth * level.size() + inner.size());
    for (size_t i = 0; i < depth; ++i) {
      p.insert(p.end(), level.begin(), level.end());
    }
    p.insert(p.end(), inner.begin(), inner.end());
    write_all(frame(p));
  } else if (mode == "seqlie") {
    // A string list that says it holds 2^31 elements (varbyte length).
    std::vector<char> body{static_cast<char>(0x80), static_cast<char>(0x80),
                           static_cast<char>(0x80), static_cast<char>(0x80), 0x08};
    write_all(frame(raw_message(sys, "@<>+@strvec", body)));
  } else if (mode == "bigstring") {
    auto request = caf::make_message(caf::atom("kvget"), std::string(2u << 20, 'k'));
    write_all(frame(payload_of(
        sys, caf::make_message(ml::request_atom::value, uint64_t{1}, caf::atom("kv"), request))));
  } else if (mode == "badtype") {
    write_all(frame(raw_message(sys, "@<>+@actor", std::vector<char>(16, '\0'))));
  } else if (mode == "oversized") {
    std::vector<char> header{0, 0, 0, 4};  // 64 MiB
    write_all(header);
    write_all(std::vector<char>(1 << 16, 'x'));
  } else if (mode == "garbage") {
    std::mt19937 gen{18};
    std::vector<char> p(4096);
    for (auto& c : p) {
      c = static_cast<char>(gen());
    }
    write_all(frame(p));
  } else if (mode == "flood") {
    std::vector<char> burst;
    for (uint64_t id = 1; id <= 3000; ++id) {
      auto put = caf::make_message(myelin::actors::kv_put_atom::value,
                                   myelin::runtime::kv_map{{"app.hostile_flood.k", "v"}});
      auto f = frame(
          payload_of(sys, caf::make_message(ml::request_atom::value, id, caf::atom("kv"), put)));
      burst.insert(burst.end(), f.begin(), f.end());
    }
    write_all(burst);
  } else if (mode == "subflood") {
    // In batches of 128, each waited for (the core answers every subscribe),
    // so that the subscription limit trips, not the in-flight one, however
    // slowly a loaded machine answers.
    constexpr uint64_t batch = 128;
    for (uint64_t first = 1; first <= 2000; first += batch) {
      std::vector<char> burst;
      for (uint64_t id = first; id < first + batch && id <= 2000; ++id) {
        auto sub = caf::make_message(myelin::actors::uevent_subscribe_atom::value,
                                     "/devices/" + std::string(1000, 'p') + std::to_string(id),
                                     std::string{});
        auto f = frame(payload_of(sys, caf::make_message(ml::subscribe_atom::value, id, uint64_t{1},
                                                         caf::atom("uevent"), sub)));
        burst.insert(burst.end(), f.begin(), f.end());
      }
      write_all(burst);
      if (!skip_frames(batch, 10000)) {
        return;  // the core ended the link
      }
    }
  } else if (mode == "noread") {
    // Refused reads whose answers echo the 1 MiB key; never read.
    for (uint64_t id = 1; id <= 100; ++id) {
      auto get = caf::make_message(myelin::actors::kv_get_atom::value,
                                   "nerves_" + std::string(1000000, 'n'));
      write_all(frame(
          payload_of(sys, caf::make_message(ml::request_atom::value, id, caf::atom("kv"), get))));
    }
  } else if (mode == "blindpong") {
    for (uint64_t seq = 1; seq <= 50; ++seq) {
      write_all(frame(payload_of(sys, caf::make_message(ml::pong_atom::value, seq))));
    }
  } else if (mode == "fakereply") {
    write_all(frame(payload_of(sys, caf::make_message(ml::reply_atom::value, uint64_t{12345}, true,
                                                      std::string{"unasked"}))));
  } else if (mode == "truncated") {
    auto p = frame(payload_of(sys, caf::make_message(ml::pong_atom::value, uint64_t{1})));
    p.resize(p.size() / 2);
    write_all(p);
    ::close(fd);
    ::_exit(0);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string app;
  std::string module;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--app") == 0) {
      app = argv[i + 1];
    } else if (std::strcmp(argv[i], "--module") == 0) {
      module = argv[i + 1];
    } else if (std::strcmp(argv[i], "--link-fd") == 0) {
      fd = std::atoi(argv[i + 1]);
    }
  }
  if (app.rfind("hostile_", 0) != 0) {
    const char* real = std::getenv("MYELIN_REAL_APPHOST");
    if (real == nullptr) {
      return 70;
    }
    argv[0] = const_cast<char*>(real);
    ::execv(real, argv);
    return 71;
  }
  caf::actor_system_config cfg;
  ml::register_types(cfg);
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  write_all(frame(
      payload_of(sys, caf::make_message(ml::hello_atom::value, module, std::string{"start"}))));
  misbehave(sys, app.substr(8));
  // Wait to be killed; never read (the core must not depend on it).
  ::sleep(60);
  return 0;
}
