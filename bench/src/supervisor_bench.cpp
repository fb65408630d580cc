// myelin-bench scenario "supervisor": restart latency and its independence of the
// number of restarts inside the intensity window.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "myelin/bench/scenario.hpp"
#include "myelin/supervisors/supervisor.hpp"

namespace {

namespace sv = myelin::supervisors;
using clock_type = std::chrono::steady_clock;

using ping_atom = caf::atom_constant<caf::atom("bping")>;
using pong_atom = caf::atom_constant<caf::atom("bpong")>;
using new_child_atom = caf::atom_constant<caf::atom("bnewchild")>;
using measure_atom = caf::atom_constant<caf::atom("bmeasure")>;

caf::behavior pong_child() {
  return {[](ping_atom) { return pong_atom::value; }};
}

/// Kills the current child, waits for the supervisor's start function to
/// announce its successor, pings it and records kill -> pong, n times.
/// Everything runs on the scheduler: no thread wake-up in the measured path.
struct driver_state {
  caf::actor child;
  bool awaiting_restart = false;
  int remaining = 0;
  clock_type::time_point t0;
  std::vector<double> samples;
  caf::response_promise done;
};

caf::behavior driver(caf::stateful_actor<driver_state>* self) {
  auto kick = [self] {
    self->state.awaiting_restart = true;
    self->state.t0 = clock_type::now();
    self->send_exit(self->state.child, caf::exit_reason::kill);
  };
  return {
      [self, kick](new_child_atom, caf::actor& c) {
        self->state.child = c;
        if (!self->state.awaiting_restart) {
          return;
        }
        self->state.awaiting_restart = false;
        self->request(c, caf::infinite, ping_atom::value).then([self, kick](pong_atom) {
          auto dt = std::chrono::duration<double, std::micro>(clock_type::now() - self->state.t0);
          self->state.samples.push_back(dt.count());
          if (--self->state.remaining == 0) {
            self->state.done.deliver(std::move(self->state.samples));
            self->state.samples = {};
            return;
          }
          kick();
        });
      },
      [self, kick](measure_atom, int n) {
        self->state.remaining = n;
        self->state.samples.clear();
        self->state.samples.reserve(static_cast<size_t>(n));
        self->state.done = self->make_response_promise();
        kick();
        return self->state.done;
      },
  };
}

/// One supervised child whose every (re)start is announced to `drv`.
caf::expected<caf::actor> start_bench_supervisor(caf::actor_system& sys, const caf::actor& drv) {
  sv::supervisor_flags flags;
  flags.strategy = sv::strategy::one_for_one;
  flags.intensity = 10'000'000;  // never trips here
  flags.period = std::chrono::hours{1};
  flags.name = "bench";
  auto start = [drv](caf::actor_system& s, const caf::message&) -> caf::expected<caf::actor> {
    auto c = s.spawn(pong_child);
    caf::anon_send(drv, new_child_atom::value, c);
    return c;
  };
  return sv::start_supervisor(sys, flags, {sv::worker("child", start)});
}

std::vector<double> measure(caf::scoped_actor& self, const caf::actor& drv, int n) {
  std::vector<double> out;
  self->request(drv, caf::infinite, measure_atom::value, n)
      .receive([&](std::vector<double>& xs) { out = std::move(xs); },
               [&](caf::error& e) {
                 std::fprintf(stderr, "measurement failed: %s\n", to_string(e).c_str());
               });
  return out;
}

void stop(caf::scoped_actor& self, const caf::actor& sup) {
  self->monitor(sup);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  self->receive([](caf::down_msg&) {});
}

double median(std::vector<double> xs) {
  return myelin::bench::percentile(xs, 50);
}

int run(const std::vector<std::string>& args) {
  int samples = args.empty() ? 20'000 : std::stoi(args[0]);
  // Every kill is an abnormal exit and produces a supervisor report on
  // stderr (its cost is part of a restart); keep them off the terminal.
  std::fflush(stderr);
  int saved_stderr = dup(STDERR_FILENO);
  int devnull = open("/dev/null", O_WRONLY);
  dup2(devnull, STDERR_FILENO);
  close(devnull);
  int rc = 0;
  {
    caf::actor_system_config cfg;
    cfg.set("scheduler.max-threads", size_t{2});
    sv::add_error_category(cfg);
    caf::actor_system sys{cfg};
    caf::scoped_actor self{sys};
    auto drv = sys.spawn(driver);
    // Restart latency: warm up, then many samples from one supervisor.
    auto sup = start_bench_supervisor(sys, drv);
    if (!sup) {
      rc = 1;
    } else {
      measure(self, drv, 1000);
      auto lat = measure(self, drv, samples);
      // Window cost: 10,000 restarts inside the period; compare the last 2,000
      // (8,000-10,000 restarts in the window) with restarts 1-10 of fresh
      // supervisors (at most 10 in the window).
      stop(self, *sup);
      auto big_sup = start_bench_supervisor(sys, drv);
      auto big = measure(self, drv, 10'000);
      stop(self, *big_sup);
      std::vector<double> big_tail(big.end() - 2000, big.end());
      std::vector<double> small;
      for (int i = 0; i < 200; ++i) {
        auto s = start_bench_supervisor(sys, drv);
        auto xs = measure(self, drv, 10);
        small.insert(small.end(), xs.begin(), xs.end());
        stop(self, *s);
      }
      std::fflush(stderr);
      dup2(saved_stderr, STDERR_FILENO);
      myelin::bench::result("restart_p50_us", myelin::bench::percentile(lat, 50), "us");
      myelin::bench::result("restart_p99_us", myelin::bench::percentile(lat, 99), "us");
      myelin::bench::result("restart_window_cost_ratio", median(big_tail) / median(small), "ratio");
    }
    self->send_exit(drv, caf::exit_reason::user_shutdown);
  }
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  return rc;
}

}  // namespace

MYELIN_BENCH_SCENARIO("supervisor",
                      "one_for_one restart latency (kill -> first reply) and its cost ratio "
                      "with 10,000 vs 10 restarts inside the intensity window",
                      run);
