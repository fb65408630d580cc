// Benchmark `uevent`: the parser and property table on captured kernel
// messages, and a burst of kernel events in a private network namespace read by
// the real uevent service (losses counted).
#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "myelin/actors/uevent.hpp"
#include "myelin/bench/scenario.hpp"
#include "myelin/runtime/uevent/uevent_parser.hpp"
#include "myelin/runtime/uevent/uevent_table.hpp"

namespace myelin::bench {

namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

fs::path source_dir() {
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path{"."} : exe.parent_path().parent_path().parent_path();
}

/// The captured messages of tests/data/uevent/ (length-prefixed records).
std::vector<std::string> captured_messages() {
  std::vector<std::string> out;
  for (const char* name : {"veth_lifecycle.bin", "bridge_ifb.bin", "synthetic.bin"}) {
    std::ifstream in{source_dir() / "tests" / "data" / "uevent" / name, std::ios::binary};
    std::string bytes{std::istreambuf_iterator<char>{in}, {}};
    size_t pos = 0;
    while (pos + 4 <= bytes.size()) {
      uint32_t len = 0;
      for (int i = 3; i >= 0; --i) {
        len = (len << 8) | static_cast<unsigned char>(bytes[pos + static_cast<size_t>(i)]);
      }
      pos += 4;
      if (pos + len > bytes.size()) {
        break;
      }
      out.push_back(bytes.substr(pos, len));
      pos += len;
    }
  }
  return out;
}

int parse_rate(const std::vector<std::string>&) {
  auto messages = captured_messages();
  if (messages.empty()) {
    std::cerr << "uevent: no captured messages under " << (source_dir() / "tests/data/uevent")
              << "\n";
    return 1;
  }
  runtime::uevent_table table;
  uint64_t done = 0, failed = 0;
  auto start = steady::now();
  auto until = start + std::chrono::seconds{1};
  while (steady::now() < until) {
    for (int round = 0; round < 100; ++round) {
      for (const auto& m : messages) {
        auto r = runtime::parse_uevent(m);
        if (r.ok()) {
          table.apply(r.event);
        } else {
          ++failed;
        }
        ++done;
      }
    }
  }
  double secs = std::chrono::duration<double>(steady::now() - start).count();
  if (failed != 0) {
    std::cerr << "uevent: " << failed << " captured messages did not parse\n";
    return 1;
  }
  result("uevent_parse_per_s", static_cast<double>(done) / secs, "msg/s");
  return 0;
}

/// The calling thread in a fresh network namespace until destroyed.
struct private_netns {
  int original = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  bool ok = original >= 0 && ::unshare(CLONE_NEWNET) == 0;
  ~private_netns() {
    if (original >= 0) {
      ::setns(original, CLONE_NEWNET);
      ::close(original);
    }
  }
};

/// Arguments: [DEVICES [RCVBUF]] (default 1000 devices, the default buffer).
/// `pairs` veth pairs made by one `ip -batch` (2 net devices and their queue
/// kobjects each), then a sentinel pair: once its add arrives, every earlier
/// event has been read or lost. Lost = net devices whose add never came.
int burst(const std::vector<std::string>& args) {
  int devices = args.empty() ? 1000 : std::atoi(args[0].c_str());
  int pairs = std::max(1, devices / 2);
  if (geteuid() != 0) {
    std::cerr << "uevent: the burst needs root (network namespaces, veth)\n";
    return 1;
  }
  private_netns ns;
  if (!ns.ok) {
    std::cerr << "uevent: unshare(CLONE_NEWNET): " << std::strerror(errno) << "\n";
    return 1;
  }
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", size_t{2});
  caf::actor_system sys{cfg};
  actors::uevent_options opts;  // the defaults of the configuration
  if (args.size() > 1) {
    opts.rcvbuf = std::atoi(args[1].c_str());
  }
  auto svc = actors::uevent_start(opts)(sys, caf::make_message());
  if (!svc) {
    std::cerr << "uevent: " << sys.render(svc.error()) << "\n";
    return 1;
  }
  caf::scoped_actor self{sys};
  self->request(*svc, std::chrono::seconds{5}, actors::uevent_subscribe_atom::value,
                std::string{"/devices/virtual/net"}, std::string{"net"})
      .receive([](uint64_t) {}, [&](caf::error& err) { std::cerr << sys.render(err) << "\n"; });

  auto file = fs::temp_directory_path() / ("myelin-bench-uevent-" + std::to_string(getpid()));
  {
    std::ofstream out{file};
    for (int i = 0; i < pairs; ++i) {
      out << "link add name ba" << i << " type veth peer name bb" << i << "\n";
    }
    out << "link add name zend type veth peer name zenp\n";
  }
  auto start = steady::now();
  int rc = std::system(("ip -batch " + file.string()).c_str());
  fs::remove(file);
  if (rc != 0) {
    std::cerr << "uevent: ip -batch failed\n";
    caf::anon_send_exit(*svc, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::set<std::string> seen;
  bool sentinel = false, timed_out = false;
  while (!sentinel && !timed_out) {
    self->receive(
        [&](actors::uevent_notice& n) {
          if (n.action != "add") {
            return;
          }
          auto name = n.devpath.substr(n.devpath.rfind('/') + 1);
          if (name == "zend" || name == "zenp") {
            sentinel = name == "zend" || sentinel;
          } else {
            seen.insert(name);
          }
        },
        caf::after(std::chrono::seconds{30}) >> [&] { timed_out = true; });
  }
  double secs = std::chrono::duration<double>(steady::now() - start).count();
  actors::uevent_stats stats;
  self->request(*svc, std::chrono::seconds{5}, actors::uevent_stats_atom::value)
      .receive([&](actors::uevent_stats& s) { stats = s; }, [](caf::error&) {});
  caf::anon_send_exit(*svc, caf::exit_reason::user_shutdown);
  auto lost = static_cast<double>(2 * pairs) - static_cast<double>(seen.size());
  std::cerr << "uevent: " << 2 * pairs << " veth devices, " << stats.received
            << " kernel events read in " << secs << " s, enobufs " << stats.enobufs << ", rcvbuf "
            << stats.rcvbuf << (timed_out ? ", sentinel lost" : "") << "\n";
  result("uevent_burst_lost", lost, "devices");
  result("uevent_burst_events", static_cast<double>(stats.received), "events");
  result("uevent_burst_enobufs", static_cast<double>(stats.enobufs), "overflows");
  return 0;
}

int run_uevent(const std::vector<std::string>& args) {
  int rc = parse_rate(args);
  return burst(args) != 0 ? 1 : rc;
}

}  // namespace

MYELIN_BENCH_SCENARIO("uevent",
                      "uevent parser + table on captured messages; a burst of 1000 veth devices "
                      "in a private netns read by the uevent service (lost must be 0)",
                      run_uevent);

}  // namespace myelin::bench
