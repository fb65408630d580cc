// myelin-bench scenario `app_partition`: what preparing the application
// partition adds to a boot, on a 64 MiB loop device (needs root).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "myelin/bench/scenario.hpp"
#include "myelin/runtime/partition/app_partition.hpp"
#include "myelin/runtime/partition/mount_table.hpp"

namespace myelin::bench {

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

std::string command_output(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) {
      out += buf;
    }
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) {
    out.pop_back();
  }
  return out;
}

/// A loop device over a sparse file and a mount target, both removed at the end.
struct bench_loop {
  std::string dir;
  std::string device;
  std::string target;

  bench_loop() {
    char tmpl[] = "/tmp/myelin-bench-part-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
      return;
    }
    dir = tmpl;
    target = dir + "/mnt";
    auto img = dir + "/app.img";
    if (std::system(("truncate -s 64M " + img).c_str()) != 0) {
      return;
    }
    device = command_output("losetup -f --show " + img + " 2>/dev/null");
  }
  ~bench_loop() {
    if (!target.empty()) {
      for (int i = 0; i < 8; ++i) {
        auto t = runtime::mount_table::load();
        if (!t || !t->find_by_target(target)) {
          break;
        }
        if (std::system(("umount " + target + " 2>/dev/null").c_str()) != 0) {
          [[maybe_unused]] int rc = std::system(("umount -l " + target).c_str());
        }
      }
    }
    if (!device.empty()) {
      [[maybe_unused]] int rc = std::system(("losetup -d " + device).c_str());
    }
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

int run_app_partition(const std::vector<std::string>&) {
  if (::geteuid() != 0) {
    std::cerr << "app_partition: SKIP: needs root (loop devices, mount)\n";
    return 0;
  }
  bench_loop loop;
  if (loop.device.empty()) {
    std::cerr << "app_partition: SKIP: no loop device (losetup -f failed)\n";
    return 0;
  }
  runtime::mounted_partition_options opts;
  opts.device = loop.device;
  opts.target = loop.target;
  opts.fstype = "ext4";
  constexpr int rounds = 5;
  std::vector<double> first_boot, mount, mounted, erase, table;
  for (int i = 0; i < rounds; ++i) {
    auto p = runtime::make_mounted_partition(opts);
    auto t0 = clock_type::now();
    auto s = p->prepare();
    first_boot.push_back(ms_since(t0));
    if (s.outcome != runtime::partition_outcome::formatted) {
      std::cerr << "app_partition: expected a format: " << s.summary() << "\n";
      return 1;
    }
    for (int j = 0; j < 10; ++j) {
      t0 = clock_type::now();
      auto again = runtime::make_mounted_partition(opts)->prepare();
      mounted.push_back(ms_since(t0));
      t0 = clock_type::now();
      auto tb = runtime::mount_table::load();
      table.push_back(ms_since(t0));
      if (again.outcome != runtime::partition_outcome::already_mounted || !tb) {
        std::cerr << "app_partition: expected already mounted: " << again.summary() << "\n";
        return 1;
      }
    }
    if (std::system(("umount " + loop.target).c_str()) != 0) {
      return 1;
    }
    t0 = clock_type::now();
    auto m = runtime::make_mounted_partition(opts)->prepare();
    mount.push_back(ms_since(t0));
    if (m.outcome != runtime::partition_outcome::mounted) {
      std::cerr << "app_partition: expected a mount: " << m.summary() << "\n";
      return 1;
    }
    t0 = clock_type::now();
    if (auto err = p->erase()) {
      std::cerr << "app_partition: erase failed\n";
      return 1;
    }
    erase.push_back(ms_since(t0));
  }
  result("app_partition_first_boot_format_mount_ms", percentile(first_boot, 50), "ms");
  result("app_partition_mount_existing_ms", percentile(mount, 50), "ms");
  result("app_partition_already_mounted_ms", percentile(mounted, 50), "ms");
  result("app_partition_mountinfo_read_floor_ms", percentile(table, 50), "ms");
  result("app_partition_factory_reset_erase_ms", percentile(erase, 50), "ms");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("app_partition",
                      "app partition on a 64 MiB loop device: format+mount, mount, "
                      "already-mounted check (floor: reading mountinfo), factory-reset erase",
                      run_app_partition);

}  // namespace myelin::bench
