// The ticker app: a timer-driven counter that records its count in the
// device's KV store (ticker.count) every 10 ticks. Commands: `count` (the
// current count), `kv KEY` (reads KEY from the KV store through the core).
#include <atomic>

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
  if (args.size() != 1) {
    return caf::make_error(caf::sec::invalid_argument, "usage: kv KEY");
  }
  caf::scoped_actor self{ctx.system()};
  caf::expected<std::string> reply{caf::error{}};
  self->request(ctx.kv(), 5s, myelin::actors::kv_get_atom::value, args[0])
      .receive([&](std::string& value) { reply = std::move(value); },
               [&](caf::error& err) { reply = std::move(err); });
  return reply;
}

}  // namespace

MYELIN_APP(myelin::app::definition{start, {{"count", count_command}, {"kv", kv_command}}})
