// The ticker app: a timer-driven counter that records its count in the
// device's KV store (ticker.count) every 10 ticks. Commands: `count` (the
// current count), `kv KEY` (reads KEY from the KV store through the core),
// `kv KEY VALUE` (writes KEY and, without waiting for the write's answer,
// reads it back: the read must see the write),
// `rtt [N]` (p50 and p99 in µs of N kv requests over the app host's link).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <memory>

#include <caf/all.hpp>

#include "myelin/actors/kv.hpp"
#include "myelin/app.hpp"

namespace {

using namespace std::chrono_literals;
using tick_atom = caf::atom_constant<caf::atom("tick")>;

std::atomic<uint64_t> count{0};

caf::behavior ticker(caf::event_based_actor* self, caf::actor kv) {
  self->delayed_send(self, 1s, tick_atom::value);
  return {[self, kv](tick_atom) {
    auto n = ++count;
    if (n % 10 == 0) {
      self->request(kv, 5s, myelin::actors::kv_put_atom::value,
                    myelin::runtime::kv_map{{"ticker.count", std::to_string(n)}})
          .then([] {}, [](caf::error&) {});
    }
    self->delayed_send(self, 1s, tick_atom::value);
  }};
}

caf::expected<caf::actor> start(myelin::app::context& ctx) {
  myelin::supervisors::supervisor_flags flags;
  flags.name = "ticker";
  auto kv = ctx.kv();
  auto worker = myelin::supervisors::worker(
      "ticker", [kv](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        return sys.spawn(ticker, kv);
      });
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {worker});
}

caf::expected<std::string> count_command(myelin::app::context&, const std::vector<std::string>&) {
  return std::to_string(count.load());
}

caf::expected<std::string> kv_command(myelin::app::context& ctx,
                                      const std::vector<std::string>& args) {
  if (args.empty() || args.size() > 2) {
    return caf::make_error(caf::sec::invalid_argument, "usage: kv KEY [VALUE]");
  }
  caf::scoped_actor self{ctx.system()};
  caf::expected<std::string> reply{caf::error{}};
  if (args.size() == 2) {
    // Not waited for: messages between two actors stay in order.
    self->send(ctx.kv(), myelin::actors::kv_put_atom::value,
               myelin::runtime::kv_map{{args[0], args[1]}});
  }
  self->request(ctx.kv(), 5s, myelin::actors::kv_get_atom::value, args[0])
      .receive([&](std::string& value) { reply = std::move(value); },
               [&](caf::error& err) { reply = std::move(err); });
  return reply;
}

using go_atom = caf::atom_constant<caf::atom("go")>;

/// Times `n` sequential kv_get requests from an actor of this app to the kv
/// service (through the app host's link) and reports the p50 and p99 in µs.
caf::behavior rtt_prober(caf::event_based_actor* self, caf::actor kv, int n) {
  auto samples = std::make_shared<std::vector<double>>();
  auto next = std::make_shared<std::function<void(caf::response_promise)>>();
  *next = [self, kv, n, samples, next](caf::response_promise rp) {
    if (static_cast<int>(samples->size()) == n) {
      std::sort(samples->begin(), samples->end());
      auto at = [&](double p) { return (*samples)[static_cast<size_t>(p * (n - 1))]; };
      rp.deliver(std::to_string(at(0.5)) + " " + std::to_string(at(0.99)));
      self->quit();
      return;
    }
    auto t0 = std::chrono::steady_clock::now();
    self->request(kv, 5s, myelin::actors::kv_get_atom::value, std::string{"nerves_fw_active"})
        .then(
            [=](const std::string&) mutable {
              samples->push_back(
                  std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                      .count());
              (*next)(rp);
            },
            [=](caf::error& err) mutable {
              rp.deliver(std::move(err));
              self->quit();
            });
  };
  return {[self, next](go_atom) {
    auto rp = self->make_response_promise();
    (*next)(rp);
    return rp;
  }};
}

caf::expected<std::string> rtt_command(myelin::app::context& ctx,
                                       const std::vector<std::string>& args) {
  int n = args.empty() ? 1000 : std::atoi(args[0].c_str());
  if (n <= 0 || n > 1000000) {
    return caf::make_error(caf::sec::invalid_argument, "usage: rtt [N], N in 1..1000000");
  }
  caf::scoped_actor self{ctx.system()};
  auto prober = ctx.system().spawn(rtt_prober, ctx.kv(), n);
  caf::expected<std::string> reply{caf::error{}};
  self->request(prober, caf::infinite, go_atom::value)
      .receive([&](std::string& text) { reply = std::move(text); },
               [&](caf::error& err) { reply = std::move(err); });
  return reply;
}

}  // namespace

MYELIN_APP(myelin::app::definition{
    start, {{"count", count_command}, {"kv", kv_command}, {"rtt", rtt_command}}})
