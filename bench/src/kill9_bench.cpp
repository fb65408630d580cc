// myelin-bench scenario `kill9`: kill -9 at many points spread over an
// overlay compaction and over a U-Boot environment write that finds no valid
// copy, then check what a restart finds (issue 19, decision 0076):
//  - compaction: the store opens, every app resolves to exactly the files it
//    resolved to before (compaction must not change resolution), and every
//    file of the stack is whole (its contents hash to its manifest entry);
//  - environment: either still no valid copy (the write never landed), or a
//    valid one holding U-Boot's defaults (bootcmd) and every new key.
// Prints the trial counts and RESULT kill9_trials_inconsistent (must be 0;
// the scenario fails otherwise). Usage: myelin-bench kill9 [--trials N]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "myelin/bench/scenario.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/kv/uboot_env.hpp"
#include "myelin/runtime/overlays/overlay_store.hpp"
#include "myelin/runtime/platform/signing.hpp"

namespace myelin::bench {

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

void write_text(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `op` in a child process, kills it `delay_us` after it began (unless
/// it ended first); true if it was killed before it ended.
template <class Op>
bool run_and_kill(Op op, int64_t delay_us) {
  int go[2];
  if (::pipe(go) != 0) {
    return false;
  }
  pid_t pid = ::fork();
  if (pid == 0) {
    char c;
    ::close(go[1]);
    [[maybe_unused]] auto n = ::read(go[0], &c, 1);
    op();
    ::_exit(0);
  }
  ::close(go[0]);
  [[maybe_unused]] auto n = ::write(go[1], "g", 1);
  ::close(go[1]);
  auto until = clock_type::now() + std::chrono::microseconds{delay_us};
  int status = 0;
  while (clock_type::now() < until) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      return false;  // finished before the kill
    }
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  return WIFSIGNALED(status);
}

// -- compaction ---------------------------------------------------------------

struct compaction_setup {
  fs::path root;
  runtime::overlay_store_options opts;
  std::string app_hash;
};

runtime::overlay_store_options store_options(const fs::path& root) {
  runtime::overlay_store_options o;
  o.base_dir = (root / "base").string();
  o.persistent_dir = (root / "state/overlays").string();
  o.volatile_dir = (root / "state/run/overlays").string();
  o.allow_unsigned = true;
  o.known_apps = {"hello"};
  o.max_depth = 100;  // no compaction during the setup
  return o;
}

/// A base app and six persistent overlays (files changed, added in nested
/// directories, one removed) in `root/template`.
bool make_compaction_template(const fs::path& root, compaction_setup& out) {
  auto t = root / "template";
  write_text(t / "base/hello/libhello.so", std::string(200000, 'b'));
  write_text(t / "base/hello/priv/a.txt", "a");
  write_text(t / "base/hello/priv/deep/b.txt", "b");
  auto opts = store_options(t);
  auto store = runtime::overlay_store::open(opts);
  if (!store) {
    std::cerr << "kill9: " << runtime::describe(store.error()) << "\n";
    return false;
  }
  for (int i = 0; i < 6; ++i) {
    runtime::overlay_manifest m;
    m.apps = {"hello"};
    m.persist = true;
    std::vector<std::string> contents;
    auto add = [&](const std::string& path, std::string data) {
      m.files.push_back({path, runtime::sha256_hex(data), data.size(), 0644});
      contents.push_back(std::move(data));
    };
    add("hello/libhello.so", std::string(150000 + i * 1000, static_cast<char>('c' + i)));
    add("hello/priv/deep/n" + std::to_string(i) + "/x.txt", "x" + std::to_string(i));
    if (i == 3) {
      m.whiteouts.push_back("hello/priv/a.txt");
    }
    auto applied = (*store)->apply(runtime::make_bundle(m, contents, nullptr));
    if (!applied) {
      std::cerr << "kill9: apply: " << runtime::describe(applied.error()) << "\n";
      return false;
    }
  }
  auto hash = (*store)->app_hash("hello");
  if (!hash) {
    return false;
  }
  out.app_hash = *hash;
  out.root = root;
  return true;
}

/// What a restart must find after a kill at any point of the compaction.
bool compaction_consistent(const fs::path& dir, const std::string& want_hash, std::string& why) {
  auto store = runtime::overlay_store::open(store_options(dir));
  if (!store) {
    why = "the store does not open: " + runtime::describe(store.error());
    return false;
  }
  auto tree = (*store)->tree("hello");
  if (!tree) {
    why = "no tree: " + runtime::describe(tree.error());
    return false;
  }
  for (const auto& [path, f] : *tree) {
    if (runtime::sha256_hex(read_text(f.source)) != f.sha256) {
      why = path + " is not whole (" + f.source + ")";
      return false;
    }
  }
  auto hash = (*store)->app_hash("hello");
  if (!hash || *hash != want_hash) {
    why = "the app resolves to other files than before";
    return false;
  }
  return true;
}

// -- environment --------------------------------------------------------------

const runtime::kv_map env_defaults{{"bootcmd", "run distro_bootcmd"}, {"bootdelay", "2"}};
const runtime::kv_changes env_write{{"nerves_fw_active", "b"}, {"b.nerves_fw_version", "2.0.0"}};

void make_blank_env(const fs::path& dir) {
  fs::create_directories(dir);
  write_text(dir / "env.bin", std::string(2 * 0x4000, '\0'));
  write_text(dir / "fw_env.config", (dir / "env.bin").string() + " 0x0 0x4000\n" +
                                        (dir / "env.bin").string() + " 0x4000 0x4000\n");
}

bool env_consistent(const fs::path& dir, std::string& why) {
  runtime::uboot_env_backend env{(dir / "fw_env.config").string()};
  auto kv = env.read();
  if (!kv) {
    return true;  // still no valid copy: the write never landed
  }
  for (const auto& [k, v] : env_defaults) {
    if (k != "bootdelay" && (kv->count(k) == 0 || kv->at(k) != v)) {
      why = "a valid environment without " + k;
      return false;
    }
  }
  for (const auto& [k, v] : env_write) {
    if (kv->count(k) == 0 || kv->at(k) != *v) {
      why = "a valid environment without the new " + k;
      return false;
    }
  }
  return true;
}

/// The median duration of `op` in microseconds, over `n` runs in children.
template <class Setup, class Op>
int64_t median_us(int n, Setup setup, Op op) {
  std::vector<double> samples;
  for (int i = 0; i < n; ++i) {
    setup();
    auto t0 = clock_type::now();
    run_and_kill(op, 60'000'000);
    samples.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
  }
  return static_cast<int64_t>(percentile(samples, 50));
}

int kill9(const std::vector<std::string>& args) {
  int trials = 150;
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "--trials") {
      trials = std::max(1, std::atoi(args[i + 1].c_str()));
    }
  }
  char pattern[] = "/var/tmp/myelin-kill9-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    std::cerr << "kill9: mkdtemp failed\n";
    return 1;
  }
  fs::path root{pattern};
  compaction_setup setup;
  if (!make_compaction_template(root, setup)) {
    return 1;
  }
  auto work = root / "work";
  auto fresh_copy = [&] {
    fs::remove_all(work);
    fs::copy(root / "template", work, fs::copy_options::recursive);
  };
  auto compact = [&] {
    auto store = runtime::overlay_store::open(store_options(work));
    if (store) {
      (*store)->compact();
    }
  };
  auto env_dir = root / "env";
  auto env_fresh = [&] {
    fs::remove_all(env_dir);
    make_blank_env(env_dir);
  };
  auto env_write_op = [&] {
    runtime::uboot_env_backend env{(env_dir / "fw_env.config").string(), env_defaults};
    env.write(env_write);
  };
  auto compact_us = median_us(5, fresh_copy, compact);
  auto env_us = median_us(5, env_fresh, env_write_op);
  std::cout << "kill9: compaction takes " << compact_us << " us, the environment write " << env_us
            << " us (medians of 5, in a child process)\n";

  int inconsistent = 0;
  int interrupted = 0;
  std::mt19937 rng{12345};
  auto spread = [&](int i, int64_t span) {
    // Evenly over 0..1.2 × the operation's duration, jittered within a step.
    double step = 1.2 * static_cast<double>(span) / trials;
    std::uniform_real_distribution<double> jitter{0, step};
    return static_cast<int64_t>(step * i + jitter(rng));
  };
  for (int i = 0; i < trials; ++i) {
    fresh_copy();
    interrupted += run_and_kill(compact, spread(i, compact_us)) ? 1 : 0;
    std::string why;
    if (!compaction_consistent(work, setup.app_hash, why)) {
      ++inconsistent;
      std::cerr << "kill9: compaction trial " << i << ": " << why << "\n";
    }
  }
  int env_interrupted = 0;
  for (int i = 0; i < trials; ++i) {
    env_fresh();
    env_interrupted += run_and_kill(env_write_op, spread(i, env_us)) ? 1 : 0;
    std::string why;
    if (!env_consistent(env_dir, why)) {
      ++inconsistent;
      std::cerr << "kill9: environment trial " << i << ": " << why << "\n";
    }
  }
  fs::remove_all(root);
  std::cout << "kill9: " << trials << " compaction trials (" << interrupted << " killed midway), "
            << trials << " environment-write trials (" << env_interrupted << " killed midway)\n";
  result("kill9_trials", 2.0 * trials, "count");
  result("kill9_trials_interrupted", interrupted + env_interrupted, "count");
  result("kill9_trials_inconsistent", inconsistent, "count");
  return inconsistent == 0 ? 0 : 1;
}

}  // namespace

MYELIN_BENCH_SCENARIO("kill9",
                      "kill -9 over overlay compaction and a blank-environment write: "
                      "inconsistent restarts (must be 0)",
                      kill9);

}  // namespace myelin::bench
