// The ticker app: a timer-driven counter that records its count in the
// device's KV store (app.ticker.count) every 10 ticks. Commands: `count` (the
// current count), `kv KEY` (reads KEY from the KV store through the core),
// `kv KEY VALUE` (writes KEY and, without waiting for the write's answer,
// reads it back: the read must see the write), `put KEY VALUE` (writes and
// waits for the answer),
// `rtt [N]` (p50 and p99 in µs of N kv requests over the app host's link),
// `temp` (the last temperature its sensor read, and where it came from).
//
// Two start paths from one source: on a device (`start`) the sensor reads
// the kernel's thermal zone (/sys/class/thermal/thermal_zone0/temp); on a
// laptop (`start_host`, device.target = "host") it is simulated — a slow
// wave around 45 °C — so the app runs and can be tried without the hardware.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

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
                    myelin::runtime::kv_map{{"app.ticker.count", std::to_string(n)}})
          .then([] {}, [](caf::error&) {});
    }
    self->delayed_send(self, 1s, tick_atom::value);
  }};
}

using sample_atom = caf::atom_constant<caf::atom("sample")>;

/// Reads one temperature in °C, or nullopt when the sensor cannot be read.
using sensor_fn = std::function<std::optional<double>()>;

/// The last reading, for the `temp` command.
std::mutex reading_mtx;
std::string reading = "no reading yet";

/// Samples the sensor every 500 ms; `source` names it in the reading.
caf::behavior sensor(caf::event_based_actor* self, sensor_fn read, std::string source) {
  self->send(self, sample_atom::value);
  return {[self, read, source](sample_atom) {
    auto t = read();
    char text[96];
    if (t) {
      std::snprintf(text, sizeof(text), "%.1f C (%s)", *t, source.c_str());
    } else {
      std::snprintf(text, sizeof(text), "no reading (%s cannot be read)", source.c_str());
    }
    {
      std::lock_guard<std::mutex> guard{reading_mtx};
      reading = text;
    }
    self->delayed_send(self, 500ms, sample_atom::value);
  }};
}

/// The real sensor: the kernel's first thermal zone, in millidegrees.
std::optional<double> thermal_zone() {
  std::ifstream in{"/sys/class/thermal/thermal_zone0/temp"};
  long milli = 0;
  if (!(in >> milli)) {
    return std::nullopt;
  }
  return static_cast<double>(milli) / 1000.0;
}

/// The simulated sensor of the host: 45 °C ± 5 over a minute.
std::optional<double> simulated() {
  auto s = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch());
  return 45.0 + 5.0 * std::sin(s.count() * 2.0 * M_PI / 60.0);
}

caf::expected<caf::actor> start_with(myelin::app::context& ctx, sensor_fn read,
                                     std::string source) {
  myelin::supervisors::supervisor_flags flags;
  flags.name = "ticker";
  auto kv = ctx.kv();
  auto worker = myelin::supervisors::worker(
      "ticker", [kv](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        return sys.spawn(ticker, kv);
      });
  auto probe = myelin::supervisors::worker(
      "sensor",
      [read, source](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        return sys.spawn(sensor, read, source);
      });
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {worker, probe});
}

/// On a device: the real thermal zone.
caf::expected<caf::actor> start(myelin::app::context& ctx) {
  return start_with(ctx, thermal_zone, "thermal_zone0");
}

/// On a laptop: the same app with its sensor simulated.
caf::expected<caf::actor> start_host(myelin::app::context& ctx) {
  return start_with(ctx, simulated, "simulated");
}

caf::expected<std::string> temp_command(myelin::app::context&, const std::vector<std::string>&) {
  std::lock_guard<std::mutex> guard{reading_mtx};
  return reading;
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

/// `put KEY VALUE`: writes KEY and waits for the kv service's answer — the
/// error when the app may not write it (issue 18).
caf::expected<std::string> put_command(myelin::app::context& ctx,
                                       const std::vector<std::string>& args) {
  if (args.size() != 2) {
    return caf::make_error(caf::sec::invalid_argument, "usage: put KEY VALUE");
  }
  caf::scoped_actor self{ctx.system()};
  caf::expected<std::string> reply{caf::error{}};
  self->request(ctx.kv(), 5s, myelin::actors::kv_put_atom::value,
                myelin::runtime::kv_map{{args[0], args[1]}})
      .receive([&] { reply = std::string{"ok"}; },
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

MYELIN_APP(myelin::app::definition{start,
                                   {{"count", count_command},
                                    {"kv", kv_command},
                                    {"put", put_command},
                                    {"rtt", rtt_command},
                                    {"temp", temp_command}},
                                   start_host})
