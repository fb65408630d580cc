// myelin-bench firmware: applying a 256 MiB firmware over loopback into a slot
// file, against a plain sequential write of the same size on the same
// filesystem (both through the page cache with one fsync at the end), and
// against the same write with the slot writer's writeback policy.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_archive.hpp"
#include "myelin/runtime/platform/signing.hpp"

namespace myelin::bench {

namespace {

namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

constexpr size_t mib = 1 << 20;

/// Fills `buf` with cheap pseudo-random bytes (incompressible enough).
void fill_random(std::vector<char>& buf, uint64_t& state) {
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::memcpy(buf.data() + i, &state, 8);
  }
}

/// Writes `size` bytes to `path` in 1 MiB writes, then fsync; seconds taken
/// (negative on failure). `seed` 0 writes one repeated block. `windowed`:
/// the slot writer's writeback policy (runtime/src/firmware/firmware_slot.cpp): every
/// 8 MiB window handed to the disk at once, waiting for the one two before,
/// which then leaves the page cache.
double write_file_timed(const std::string& path, size_t size, uint64_t seed,
                        bool windowed = false) {
  std::vector<char> buf(mib);
  uint64_t state = seed == 0 ? 88172645463325252ull : seed;
  fill_random(buf, state);
  auto start = steady::now();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return -1;
  }
  for (size_t done = 0; done < size; done += mib) {
    if (seed != 0) {
      fill_random(buf, state);
    }
    if (::write(fd, buf.data(), mib) != static_cast<ssize_t>(mib)) {
      ::close(fd);
      return -1;
    }
    constexpr size_t window = 8 * mib;
    if (windowed && (done + mib) % window == 0) {
      auto w = (done + mib) / window;
      ::sync_file_range(fd, static_cast<off_t>((w - 1) * window), window, SYNC_FILE_RANGE_WRITE);
      if (w >= 3) {
        ::sync_file_range(
            fd, static_cast<off_t>((w - 3) * window), window,
            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
        ::posix_fadvise(fd, static_cast<off_t>((w - 3) * window), window, POSIX_FADV_DONTNEED);
      }
    }
  }
  bool ok = ::fsync(fd) == 0;
  ok = ::close(fd) == 0 && ok;
  return ok ? std::chrono::duration<double>(steady::now() - start).count() : -1;
}

/// Runs a command with its output discarded; its exit code.
int run_quietly(const std::vector<std::string>& args) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    std::vector<char*> argv;
    for (const auto& a : args) {
      argv.push_back(const_cast<char*>(a.c_str()));
    }
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int firmware_scenario(const std::vector<std::string>& args) {
  size_t size_mb = args.size() > 0 ? std::stoul(args[0]) : 256;
  int runs = args.size() > 1 ? std::stoi(args[1]) : 5;
  auto dir = fs::path{args.size() > 2 ? args[2] : "/var/tmp"} /
             ("myelin-bench-fw-" + std::to_string(getpid()));
  fs::create_directories(dir);
  struct cleanup {
    fs::path dir;
    ~cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleaner{dir};
  auto size = size_mb * mib;
  auto image = (dir / "rootfs.img").string();
  if (write_file_timed(image, size, 12345) < 0) {
    std::cerr << "firmware: cannot write " << image << "\n";
    return 1;
  }
  auto keys = runtime::generate_key_pair();
  runtime::firmware_contents contents;
  contents.manifest.product = "myelin-demo";  // what config/host.toml runs
  contents.manifest.version = "1.0.0";
  contents.manifest.platform = "bench";
  contents.manifest.architecture = "bench";
  contents.files = {{"rootfs.img", image}};
  auto fw = (dir / "bench.fw").string();
  if (auto m = runtime::write_firmware_file(contents, keys.secret, fw); !m) {
    std::cerr << "firmware: " << runtime::describe(m.error()) << "\n";
    return 1;
  }
  fs::remove(image);
  ::sync();  // no dirty pages of the setup in the measurements
  auto slot_a = (dir / "slot-a.img").string();
  auto slot_b = (dir / "slot-b.img").string();
  device dev{{"--set", "firmware.trusted_keys=" + runtime::format_public_key(keys.pub), "--set",
              "firmware.platform=bench", "--set", "firmware.architecture=bench", "--set",
              "firmware.slots.a=" + slot_a, "--set", "firmware.slots.b=" + slot_b, "--set",
              "firmware.file_slot_size_mb=" + std::to_string(size_mb * 2)}};
  if (!dev.wait_for("ready in", std::chrono::seconds{30}) || dev.port() == 0) {
    std::cerr << "firmware: myelin-boot did not start\n";
    return 1;
  }
  auto address = "127.0.0.1:" + std::to_string(dev.port());
  auto myelin = bin_dir() + "/myelin";
  std::vector<double> raw;
  std::vector<double> raw_windowed;
  std::vector<double> apply;
  for (int i = 0; i < runs; ++i) {
    dev.rest(std::chrono::milliseconds{0});  // keep its log pipe from filling up
    auto raw_path = (dir / "raw.img").string();
    auto secs = write_file_timed(raw_path, size, 777 + static_cast<uint64_t>(i));
    fs::remove(raw_path);
    ::sync();
    if (secs <= 0) {
      std::cerr << "firmware: raw write failed\n";
      return 1;
    }
    raw.push_back(static_cast<double>(size_mb) / secs);
    // The same write with the slot writer's writeback policy.
    secs = write_file_timed(raw_path, size, 999 + static_cast<uint64_t>(i), true);
    fs::remove(raw_path);
    ::sync();
    if (secs <= 0) {
      std::cerr << "firmware: raw write failed\n";
      return 1;
    }
    raw_windowed.push_back(static_cast<double>(size_mb) / secs);
    // Each push goes to the inactive slot; validate so the next one may follow.
    auto start = steady::now();
    int rc = run_quietly({myelin, "fw", "push", "--device", address, fw});
    auto push_secs = std::chrono::duration<double>(steady::now() - start).count();
    if (rc != 0) {
      std::cerr << "firmware: myelin fw push failed (exit " << rc << ")\n";
      return 1;
    }
    apply.push_back(static_cast<double>(size_mb) / push_secs);
    run_quietly({myelin, "fw", "validate", "--device", address});
    fs::remove(slot_a);
    fs::remove(slot_b);
    ::sync();
    std::cerr << "run " << i + 1 << ": raw " << raw.back() << " MB/s, apply " << apply.back()
              << " MB/s\n";
  }
  auto raw_median = median(raw);
  auto apply_median = median(apply);
  result("raw_write_mb_s", raw_median, "MiB/s");
  result("fw_apply_mb_s", apply_median, "MiB/s");
  result("fw_apply_vs_raw", apply_median / raw_median, "ratio");
  result("raw_write_windowed_mb_s", median(raw_windowed), "MiB/s");
  result("fw_apply_vs_raw_windowed", apply_median / median(raw_windowed), "ratio");
  return 0;
}

}  // namespace

MYELIN_BENCH_SCENARIO("firmware",
                      "fw push of a signed 256 MiB image over loopback into a slot file vs. a "
                      "plain write (args: [MiB] [runs] [dir])",
                      firmware_scenario);

}  // namespace myelin::bench
