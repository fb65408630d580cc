// The link decoder (issue 18, decision 0078): the bounded decode of what an
// app host sends, against CAF's own binary_deserializer and a memcpy floor
// of the same bytes, in the same run.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>

#include "link/link.hpp"
#include "myelin/bench/scenario.hpp"

namespace myelin::bench {

namespace {

namespace ml = bootloader::link;
using clock_type = std::chrono::steady_clock;

/// MB/s of `fn` run over `bytes` bytes each time, for about 0.3 s.
template <class F>
double rate(size_t bytes, F fn) {
  size_t rounds = 0;
  auto start = clock_type::now();
  auto until = start + std::chrono::milliseconds{300};
  while (clock_type::now() < until) {
    for (int i = 0; i < 64; ++i) {
      fn();
    }
    rounds += 64;
  }
  double s = std::chrono::duration<double>(clock_type::now() - start).count();
  return static_cast<double>(bytes * rounds) / s / 1e6;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int link_bench(const std::vector<std::string>&) {
  caf::actor_system_config cfg;
  ml::register_types(cfg);
  caf::actor_system sys{cfg};
  // What apps send most: a kv request with a 1 KiB value.
  auto request = caf::make_message(caf::atom("kvput"), std::string{"app.sensor.reading"},
                                   std::string(1024, 'v'));
  auto frame = ml::encode(
      sys, caf::make_message(ml::request_atom::value, uint64_t{42}, caf::atom("kv"), request));
  if (!frame) {
    std::cerr << "link: cannot encode\n";
    return 1;
  }
  std::vector<char> payload(frame->begin() + 4, frame->end());
  std::vector<char> copy(payload.size());
  size_t sink = 0;
  std::vector<double> floor, caf_plain, bounded;
  for (int run = 0; run < 5; ++run) {
    floor.push_back(rate(payload.size(), [&] {
      std::memcpy(copy.data(), payload.data(), payload.size());
      sink += static_cast<unsigned char>(copy[run]);
    }));
    caf_plain.push_back(rate(payload.size(), [&] {
      caf::binary_deserializer src{sys, payload.data(), payload.size()};
      caf::message msg;
      src(msg);
      sink += msg.size();
    }));
    bounded.push_back(rate(payload.size(), [&] {
      auto msg = ml::decode(sys, payload);
      sink += msg ? msg->size() : 0;
    }));
  }
  std::cout << "link: " << payload.size() << "-byte request payloads, medians of 5 runs"
            << (sink == 0 ? " " : "") << "\n";
  result("link_memcpy_mb_s", median(floor), "MB/s");
  result("link_decode_caf_mb_s", median(caf_plain), "MB/s");
  result("link_decode_mb_s", median(bounded), "MB/s");
  result("link_decode_vs_caf", median(bounded) / median(caf_plain), "ratio");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("link",
                      "bounded decode of an app host's 1 KiB kv request vs CAF's own decoder and "
                      "a memcpy floor",
                      link_bench);

}  // namespace myelin::bench
