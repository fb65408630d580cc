// Tests of the overlay store: resolution, whiteouts, hashes, diff, compaction,
// rollback, recovery after a kill at any point of apply, and bad input that
// leaves the store byte for byte as it was.
#include "myelin/runtime/overlays/overlay_store.hpp"

#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

namespace fs = std::filesystem;
using namespace myelin::runtime;
using myelin::test::read_file;
using myelin::test::temp_dir;

namespace {

/// Writes a file, creating its directories.
void write_file(const fs::path& file, const std::string& contents) {
  fs::create_directories(file.parent_path());
  myelin::test::write_file(file, contents);
}

/// Every file, directory and symlink under `root`: path -> kind + contents.
std::map<std::string, std::string> snapshot(const fs::path& root) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (fs::recursive_directory_iterator it{root, ec}, end; !ec && it != end; it.increment(ec)) {
    auto rel = it->path().lexically_relative(root).string();
    if (it->is_symlink()) {
      out[rel] = "link:" + fs::read_symlink(it->path()).string();
    } else if (it->is_directory()) {
      out[rel] = "dir";
    } else {
      auto perms = static_cast<int>(fs::status(it->path()).permissions());
      out[rel] = "file:" + std::to_string(perms) + ":" + read_file(it->path());
    }
  }
  return out;
}

struct change {
  std::string path;
  std::optional<std::string> contents;  // nullopt: whiteout
  uint32_t mode = 0644;
};

overlay_manifest manifest_of(const std::vector<change>& changes, bool persist = false) {
  overlay_manifest m;
  std::set<std::string> apps;
  for (const auto& c : changes) {
    apps.insert(c.path.substr(0, c.path.find('/')));
    if (c.contents) {
      m.files.push_back({c.path, sha256_hex(*c.contents), c.contents->size(), c.mode});
    } else {
      m.whiteouts.push_back(c.path);
    }
  }
  m.apps.assign(apps.begin(), apps.end());
  m.persist = persist;
  return m;
}

std::vector<std::string> contents_of(const std::vector<change>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) {
    if (c.contents) {
      out.push_back(*c.contents);
    }
  }
  return out;
}

class overlay_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    keys = generate_key_pair();
    other = generate_key_pair();
    write_file(dir / "base/hello/libhello.so", "hello v1");
    write_file(dir / "base/hello/priv/greeting.txt", "Hello");
    write_file(dir / "base/hello/priv/extra.txt", "extra");
    write_file(dir / "base/ticker/libticker.so", "ticker v1");
    opts.base_dir = (dir / "base").string();
    opts.persistent_dir = (dir / "state/overlays").string();
    opts.volatile_dir = (dir / "state/run/overlays").string();
    opts.trusted_keys = {keys.pub};
    opts.known_apps = {"hello", "ticker"};
    opts.max_depth = 100;
  }

  std::unique_ptr<overlay_store> open_store() {
    auto s = overlay_store::open(opts);
    EXPECT_TRUE(s) << describe(s.error());
    return s ? std::move(*s) : nullptr;
  }

  std::string bundle(const std::vector<change>& changes, bool persist = false) {
    return make_bundle(manifest_of(changes, persist), contents_of(changes), &keys.secret);
  }

  /// A bundle from raw manifest text, signed with the trusted key.
  std::string signed_raw(const std::string& manifest_text, const std::string& payload) {
    std::string out = "myelin-overlay 1\nmanifest " + std::to_string(manifest_text.size()) + "\n" +
                      manifest_text + "signature " +
                      format_signature(sign(keys.secret, manifest_text)) + "\n" + payload;
    return out;
  }

  std::string contents_at(overlay_store& s, const std::string& app, const std::string& path) {
    auto r = s.resolve(app, path);
    return r ? read_file(*r) : std::string{"<none>"};
  }

  temp_dir dir;
  key_pair keys;
  key_pair other;
  overlay_store_options opts;
};

// Without overlays every path resolves to the base dir.
TEST_F(overlay_store_test, resolve_without_overlays_is_base) {
  auto s = open_store();
  EXPECT_EQ(*s->resolve("hello", "libhello.so"), opts.base_dir + "/hello/libhello.so");
  EXPECT_FALSE(s->resolve("hello", "missing"));
  EXPECT_TRUE(s->stack().empty());
  EXPECT_EQ(*s->module_path("hello"), opts.base_dir + "/hello/libhello.so");
}

// The newest overlay mentioning a path wins; others fall through to older ones.
TEST_F(overlay_store_test, resolve_newest_overlay_wins) {
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v2"}, {"hello/priv/new.txt", "new"}})));
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v3"}})));
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "v3");
  EXPECT_EQ(contents_at(*s, "hello", "priv/new.txt"), "new");
  EXPECT_EQ(contents_at(*s, "hello", "priv/greeting.txt"), "Hello");
  EXPECT_EQ(contents_at(*s, "ticker", "libticker.so"), "ticker v1");
  EXPECT_EQ(s->stack().size(), 2u);
}

// A whiteout hides the base file and older overlays' files; a newer file undoes it.
TEST_F(overlay_store_test, resolve_stops_at_whiteout) {
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/priv/new.txt", "new"}})));
  ASSERT_TRUE(s->apply(
      bundle({{"hello/priv/extra.txt", std::nullopt}, {"hello/priv/new.txt", std::nullopt}})));
  EXPECT_FALSE(s->resolve("hello", "priv/extra.txt"));
  EXPECT_FALSE(s->resolve("hello", "priv/new.txt"));
  auto hashes = s->file_hashes("hello");
  ASSERT_TRUE(hashes);
  EXPECT_EQ(hashes->count("priv/extra.txt"), 0u);
  ASSERT_TRUE(s->apply(bundle({{"hello/priv/extra.txt", "back"}})));
  EXPECT_EQ(contents_at(*s, "hello", "priv/extra.txt"), "back");
}

// The app hash is SHA-256 over sorted (path, hash); it returns to the base's
// value when an overlay restores the base contents.
TEST_F(overlay_store_test, app_hash_follows_resolved_tree) {
  auto s = open_store();
  std::map<std::string, std::string> expected{{"libhello.so", sha256_hex("hello v1")},
                                              {"priv/extra.txt", sha256_hex("extra")},
                                              {"priv/greeting.txt", sha256_hex("Hello")}};
  EXPECT_EQ(*s->file_hashes("hello"), expected);
  auto base = *s->app_hash("hello");
  EXPECT_EQ(base, app_hash_of(expected));
  auto r = s->apply(bundle({{"hello/libhello.so", "v2"}}));
  ASSERT_TRUE(r);
  EXPECT_NE(*s->app_hash("hello"), base);
  EXPECT_EQ(r->changed_apps.count("hello"), 1u);
  EXPECT_EQ(r->changed_apps.count("ticker"), 0u);
  r = s->apply(bundle({{"hello/libhello.so", "hello v1"}}));
  ASSERT_TRUE(r);
  EXPECT_EQ(*s->app_hash("hello"), base);
}

// The diff lists changed or new files and whiteouts for files the local tree lacks.
TEST_F(overlay_store_test, diff_trees_changed_and_whiteouts) {
  std::map<std::string, std::string> local{{"a", "1"}, {"b", "2"}, {"c", "3"}};
  std::map<std::string, std::string> device{{"a", "1"}, {"b", "x"}, {"d", "4"}};
  auto d = diff_trees(local, device);
  EXPECT_EQ(d.changed, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(d.whiteouts, (std::vector<std::string>{"d"}));
  EXPECT_TRUE(diff_trees(local, local).changed.empty());
}

// Compaction (explicit and past max_depth) leaves every resolution identical.
TEST_F(overlay_store_test, compaction_keeps_every_resolution) {
  auto s = open_store();
  std::mt19937 rng{42};
  std::vector<std::string> paths{"libhello.so", "priv/greeting.txt", "priv/extra.txt", "priv/a.txt",
                                 "priv/sub/b.txt"};
  for (int i = 0; i < 12; ++i) {
    std::vector<change> changes;
    for (const auto& p : paths) {
      auto r = rng() % 3;
      if (r == 0) {
        changes.push_back({"hello/" + p, "v" + std::to_string(i) + p});
      } else if (r == 1 && p != "libhello.so") {
        changes.push_back({"hello/" + p, std::nullopt});
      }
    }
    if (changes.empty()) {
      changes.push_back({"hello/libhello.so", "v" + std::to_string(i)});
    }
    // Mixed kinds: runs of volatile and persistent overlays.
    ASSERT_TRUE(s->apply(bundle(changes, i >= 4 && i < 8)));
  }
  auto resolved = [&] {
    std::map<std::string, std::string> out;
    for (const auto& p : paths) {
      out[p] = contents_at(*s, "hello", p);
    }
    return out;
  };
  auto before = resolved();
  auto hash = *s->app_hash("hello");
  ASSERT_EQ(s->compact(), caf::error{});
  EXPECT_EQ(s->stack().size(), 3u);
  EXPECT_EQ(resolved(), before);
  EXPECT_EQ(*s->app_hash("hello"), hash);
  // Reopened, the compacted stack resolves the same.
  s.reset();
  s = open_store();
  EXPECT_EQ(resolved(), before);
  // Past max_depth the store compacts on its own.
  opts.max_depth = 2;
  s.reset();
  s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/priv/a.txt", "last"}})));
  before["priv/a.txt"] = "last";
  // v, p, v runs: the new volatile overlay merges into the last run.
  EXPECT_EQ(s->stack().size(), 3u);
  EXPECT_EQ(resolved(), before);
}

// Rollback makes last-good the stack again; without last-good the base.
TEST_F(overlay_store_test, rollback_restores_last_good) {
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "good"}})));
  ASSERT_EQ(s->mark_good(), caf::error{});
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "bad"}})));
  auto r = s->rollback();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->changed_apps.count("hello"), 1u);
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "good");
  EXPECT_EQ(s->stack().size(), 1u);
  s.reset();
  s = open_store();
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "good");
}

// Each version of an overlaid app gets its own module directory (a view of
// symlinks, priv/ included); a new version is never loaded from the old path.
TEST_F(overlay_store_test, module_path_unique_per_version) {
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v2"}})));
  auto v2 = s->module_path("hello");
  ASSERT_TRUE(v2);
  EXPECT_EQ(read_file(*v2), "v2");
  EXPECT_EQ(read_file(fs::path{*v2}.parent_path() / "priv/greeting.txt"), "Hello");
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v3"}})));
  auto v3 = s->module_path("hello");
  ASSERT_TRUE(v3);
  EXPECT_NE(*v2, *v3);
  EXPECT_EQ(read_file(*v3), "v3");
  EXPECT_EQ(*s->module_path("ticker"), opts.base_dir + "/ticker/libticker.so");
}

// Every bad bundle is refused with a clear error and the store (persistent
// and volatile dirs) stays byte for byte as it was.
TEST_F(overlay_store_test, bad_input_changes_nothing) {
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v2"}})));
  ASSERT_TRUE(s->apply(bundle({{"hello/priv/p.txt", "p"}}, true)));
  auto before = snapshot(dir / "state");
  auto good = bundle({{"hello/libhello.so", "v9"}});
  auto good_manifest = format_manifest(manifest_of({{"hello/libhello.so", "v9"}}));
  auto unsigned_bundle = make_bundle(manifest_of({{"hello/libhello.so", "v9"}}), {"v9"}, nullptr);
  auto other_key = make_bundle(manifest_of({{"hello/libhello.so", "v9"}}), {"v9"}, &other.secret);
  auto tampered = good;
  tampered.replace(tampered.find("libhello.so"), 11, "libhellp.so");
  auto file_line = [&](const std::string& path, const std::string& data, const char* mode) {
    return "file " + sha256_hex(data) + " " + std::to_string(data.size()) + " " + mode + " " +
           path + "\n";
  };
  const std::string head = "myelin-overlay-manifest 1\napp hello\n";
  struct bad_case {
    const char* name;
    std::string bundle;
    overlay_errc code;
  };
  std::vector<bad_case> cases{
      {"unsigned", unsigned_bundle, overlay_errc::bad_signature},
      {"unknown key", other_key, overlay_errc::bad_signature},
      {"tampered manifest", tampered, overlay_errc::bad_signature},
      {"malformed signature",
       "myelin-overlay 1\nmanifest " + std::to_string(good_manifest.size()) + "\n" + good_manifest +
           "signature !!!\nv9",
       overlay_errc::bad_signature},
      {"hash mismatch", good.substr(0, good.size() - 2) + "v8", overlay_errc::hash_mismatch},
      {"truncated payload", good.substr(0, good.size() - 1), overlay_errc::bad_format},
      {"truncated manifest", good.substr(0, 40), overlay_errc::bad_format},
      {"no signature line", good.substr(0, good.find("signature")), overlay_errc::bad_format},
      {"trailing bytes", good + "x", overlay_errc::bad_format},
      {"bad header", "myelin-overlay 2\n" + good.substr(17), overlay_errc::bad_format},
      {"empty", "", overlay_errc::bad_format},
      {"dot-dot", signed_raw(head + file_line("hello/../ticker/libticker.so", "x", "0644"), "x"),
       overlay_errc::bad_path},
      {"absolute", signed_raw(head + file_line("/etc/passwd", "x", "0644"), "x"),
       overlay_errc::bad_path},
      {"outside apps", signed_raw(head + file_line("ticker/libticker.so", "x", "0644"), "x"),
       overlay_errc::bad_path},
      {"symlink mode", signed_raw(head + file_line("hello/link", "/etc", "120777"), "/etc"),
       overlay_errc::bad_path},
      {"setuid", signed_raw(head + file_line("hello/x", "x", "4755"), "x"), overlay_errc::bad_path},
      {"file and dir",
       signed_raw(head + file_line("hello/a", "x", "0644") + file_line("hello/a/b", "y", "0644"),
                  "xy"),
       overlay_errc::bad_path},
      {"duplicate",
       signed_raw(head + file_line("hello/a", "x", "0644") + "whiteout hello/a\n", "x"),
       overlay_errc::bad_format},
      {"unknown app",
       signed_raw("myelin-overlay-manifest 1\napp nosuch\n" + file_line("nosuch/x", "x", "0644"),
                  "x"),
       overlay_errc::unknown_app},
      {"unknown line", signed_raw(head + "chmod hello/x 777\n", ""), overlay_errc::bad_format},
      {"empty overlay", signed_raw(head, ""), overlay_errc::bad_format},
  };
  opts.max_bytes = 4096;
  s.reset();
  s = open_store();
  cases.push_back(
      {"oversized", bundle({{"hello/big", std::string(5000, 'x')}}), overlay_errc::too_large});
  for (const auto& c : cases) {
    auto r = s->apply(c.bundle);
    ASSERT_FALSE(r) << c.name << " was accepted";
    EXPECT_EQ(r.error().category(), caf::atom("overlay")) << c.name;
    EXPECT_EQ(r.error().code(), static_cast<uint8_t>(c.code))
        << c.name << ": " << describe(r.error());
    EXPECT_FALSE(describe(r.error()).empty());
    EXPECT_EQ(snapshot(dir / "state"), before) << c.name << " changed the store";
  }
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "v2");
}

// Host mode may accept unsigned overlays, but only when allowed.
TEST_F(overlay_store_test, unsigned_accepted_only_when_allowed) {
  auto b = make_bundle(manifest_of({{"hello/libhello.so", "v2"}}), {"v2"}, nullptr);
  auto s = open_store();
  EXPECT_FALSE(s->apply(b));
  opts.allow_unsigned = true;
  s.reset();
  s = open_store();
  EXPECT_TRUE(s->apply(b));
}

// A full disk fails the apply with io_error and leaves nothing behind.
TEST_F(overlay_store_test, disk_full_changes_nothing) {
  MYELIN_REQUIRE_ROOT();
  auto mnt = dir / ("tiny-" + std::to_string(::getpid()));
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs: " << std::strerror(errno);
  }
  struct unmount {
    fs::path p;
    ~unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } guard{mnt};
  opts.persistent_dir = (mnt / "overlays").string();
  opts.volatile_dir = (mnt / "run").string();
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v2"}})));
  auto before = snapshot(mnt);
  auto r = s->apply(bundle({{"hello/priv/big.bin", std::string(200 * 1024, 'x')}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), static_cast<uint8_t>(overlay_errc::io_error));
  EXPECT_NE(describe(r.error()).find("No space"), std::string::npos) << describe(r.error());
  EXPECT_EQ(snapshot(mnt), before);
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "v2");
}

// Opening removes leftovers of an interrupted apply and falls back to
// last-good when the stack names a missing persistent overlay.
TEST_F(overlay_store_test, open_recovers_from_leftovers) {
  {
    auto s = open_store();
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "good"}}, true)));
    ASSERT_EQ(s->mark_good(), caf::error{});
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "newer"}}, true)));
  }
  write_file(dir / "state/overlays/.tmp-000009-0123456789abcdef/manifest", "x");
  write_file(dir / "state/overlays/stack.tmp", "half");
  write_file(dir / "state/overlays/000042-0123456789abcdef/manifest", "orphan");
  auto stack = read_file(dir / "state/overlays/stack");
  write_file(dir / "state/overlays/stack", stack + "p 000077-0123456789abcdef\n");
  auto s = open_store();
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "good");
  EXPECT_EQ(s->stack().size(), 1u);
  EXPECT_FALSE(fs::exists(dir / "state/overlays/.tmp-000009-0123456789abcdef"));
  EXPECT_FALSE(fs::exists(dir / "state/overlays/stack.tmp"));
  EXPECT_FALSE(fs::exists(dir / "state/overlays/000042-0123456789abcdef"));
  // A garbled stack file also falls back to last-good.
  s.reset();
  write_file(dir / "state/overlays/stack", "garbage");
  s = open_store();
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "good");
}

// A volatile overlay (written without fsync) that a power loss tore is
// dropped at open, like one a reboot removed; persistent ones stay.
TEST_F(overlay_store_test, open_drops_torn_volatile_overlay) {
  {
    auto s = open_store();
    ASSERT_TRUE(s->apply(bundle({{"hello/priv/p.txt", "persistent"}}, true)));
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "volatile v2"}})));
  }
  auto st = open_store()->stack();
  ASSERT_EQ(st.size(), 2u);
  auto file = dir / "state/run/overlays" / st[1].name / "files/hello/libhello.so";
  ASSERT_TRUE(fs::exists(file));
  fs::resize_file(file, 3);
  auto s = open_store();
  ASSERT_EQ(s->stack().size(), 1u);
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "hello v1");
  EXPECT_EQ(contents_at(*s, "hello", "priv/p.txt"), "persistent");
}

// A SIGKILL at each numbered point of apply, and at random times, leaves
// exactly the old or the new stack (>= 100 trials, in child processes).
TEST_F(overlay_store_test, kill_during_apply_leaves_old_or_new) {
  int trials = 0;
  int old_seen = 0;
  int new_seen = 0;
  std::mt19937 rng{7};
  for (int round = 0; round < 130; ++round) {
    auto old_stack = open_store()->stack();
    auto old_module = contents_at(*open_store(), "hello", "libhello.so");
    auto version = "v" + std::to_string(round);
    auto b = bundle({{"hello/libhello.so", version},
                     {"hello/priv/" + std::to_string(round % 5), std::string(20000, 'x')}},
                    round % 2 == 0);
    int point = round < 96 ? 1 + round % 12 : 0;
    auto delay = std::chrono::microseconds{rng() % 3000};
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto o = opts;
      o.crash_at = point;
      o.max_depth = 4;
      auto s = overlay_store::open(o);
      if (s) {
        (*s)->apply(b);
      }
      ::_exit(point == 0 ? 0 : 3);
    }
    if (point == 0) {
      std::this_thread::sleep_for(delay);
      ::kill(pid, SIGKILL);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (point != 0) {
      ASSERT_TRUE(WIFSIGNALED(status)) << "point " << point << " was never reached";
    }
    ++trials;
    auto s = open_store();
    auto now = contents_at(*s, "hello", "libhello.so");
    if (now == version) {
      ++new_seen;
      EXPECT_EQ(contents_at(*s, "hello", "priv/" + std::to_string(round % 5)),
                std::string(20000, 'x'));
    } else {
      ++old_seen;
      EXPECT_EQ(now, old_module) << "round " << round << " point " << point;
      auto st = s->stack();
      ASSERT_EQ(st.size(), old_stack.size()) << "round " << round << " point " << point;
    }
    EXPECT_FALSE(fs::exists(dir / "state/overlays/stack.tmp"));
  }
  EXPECT_GE(trials, 100);
  EXPECT_GT(old_seen, 0);
  EXPECT_GT(new_seen, 0);
}

// A SIGKILL at each numbered point of compaction (21-25 and the stack
// write's 8-11) leaves a stack that resolves every file as before — the old
// stack or the merged one, never an overlay with missing files (decision
// 0076).
TEST_F(overlay_store_test, kill_during_compaction_keeps_every_file) {
  std::vector<std::string> paths{"libhello.so", "priv/a.txt", "priv/sub/b.txt", "priv/c.txt"};
  for (int point : {21, 22, 23, 24, 25, 8, 9, 10, 11}) {
    fs::remove_all(dir / "state");
    auto s = open_store();
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v1"}, {"hello/priv/a.txt", "a1"}}, true)));
    ASSERT_TRUE(s->apply(bundle({{"hello/priv/sub/b.txt", std::string(50000, 'b')}}, true)));
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v3"}, {"hello/priv/c.txt", "c3"}}, true)));
    std::map<std::string, std::string> before;
    for (const auto& p : paths) {
      before[p] = contents_at(*s, "hello", p);
    }
    auto depth = s->stack().size();
    s.reset();
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto o = opts;
      o.crash_at = point;
      auto c = overlay_store::open(o);
      if (c) {
        (*c)->compact();
      }
      ::_exit(3);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "point " << point << " was never reached";
    s = open_store();
    for (const auto& p : paths) {
      EXPECT_EQ(contents_at(*s, "hello", p), before[p]) << "point " << point << " " << p;
    }
    auto now = s->stack().size();
    EXPECT_TRUE(now == depth || now == 1u) << "point " << point << ": " << now;
    // It compacts again, whole.
    ASSERT_EQ(s->compact(), caf::error{}) << "point " << point;
    EXPECT_EQ(s->stack().size(), 1u);
    for (const auto& p : paths) {
      EXPECT_EQ(contents_at(*s, "hello", p), before[p]) << "point " << point << " " << p;
    }
  }
}

// Overlays set aside survive a reopen (garbage collection keeps them), come
// back whole, and a malformed aside file sets nothing aside (decision 0077).
TEST_F(overlay_store_test, set_aside_survives_reopen_and_restores) {
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v2"}}, true)));
  ASSERT_EQ(s->mark_good(), caf::error{});
  ASSERT_TRUE(s->apply(bundle({{"hello/priv/p.txt", "p3"}}, true)));
  auto stack = s->stack();
  auto good = s->last_good();
  ASSERT_EQ(s->set_aside("a", "uuid-a"), caf::error{});
  EXPECT_TRUE(s->stack().empty());
  EXPECT_TRUE(s->last_good().empty());
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "hello v1");
  // Again for the same slot (an interrupted boot): what is aside stays.
  ASSERT_EQ(s->set_aside("a", "uuid-a"), caf::error{});
  ASSERT_TRUE(s->aside());
  EXPECT_EQ(s->aside()->stack.size(), 2u);
  s.reset();
  s = open_store();
  ASSERT_TRUE(s->aside());
  EXPECT_EQ(s->aside()->slot, "a");
  EXPECT_EQ(s->aside()->uuid, "uuid-a");
  // Pushed meanwhile (on the other firmware), then the revert restores.
  ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "other"}}, true)));
  ASSERT_EQ(s->restore_aside(), caf::error{});
  EXPECT_FALSE(s->aside());
  EXPECT_EQ(s->stack().size(), stack.size());
  EXPECT_EQ(s->last_good().size(), good.size());
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "v2");
  EXPECT_EQ(contents_at(*s, "hello", "priv/p.txt"), "p3");
  EXPECT_FALSE(fs::exists(dir / "state/overlays/aside"));
  EXPECT_FALSE(s->restore_aside() == caf::error{});  // nothing aside
  // A malformed aside file: nothing is kept for it.
  ASSERT_EQ(s->set_aside("b", ""), caf::error{});
  s.reset();
  write_file(dir / "state/overlays/aside", "myelin-overlays-aside 1\nfor c -\n");
  s = open_store();
  EXPECT_FALSE(s->aside());
  size_t dirs = 0;
  for (const auto& e : fs::directory_iterator{dir / "state/overlays"}) {
    dirs += e.is_directory() ? 1 : 0;
  }
  EXPECT_EQ(dirs, 0u);
}

// The host's install tree: regular files, symlinks inside followed, symlinks
// leading out refused.
TEST_F(overlay_store_test, scan_app_dir_refuses_symlinks_leading_out) {
  write_file(dir / "tree/libx.so", "x");
  write_file(dir / "tree/priv/a.txt", "a");
  fs::create_symlink("priv/a.txt", dir / "tree/alias.txt");
  auto t = scan_app_dir((dir / "tree").string());
  ASSERT_TRUE(t) << describe(t.error());
  EXPECT_EQ(t->size(), 3u);
  EXPECT_EQ(t->at("priv/a.txt").sha256, sha256_hex("a"));
  fs::create_symlink("/etc/passwd", dir / "tree/escape");
  t = scan_app_dir((dir / "tree").string());
  ASSERT_FALSE(t);
  EXPECT_EQ(t.error().code(), static_cast<uint8_t>(overlay_errc::bad_path));
}

// clear_overlays() (for a new firmware) leaves the base only.
TEST_F(overlay_store_test, clear_overlays_leaves_base) {
  {
    auto s = open_store();
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v2"}}, true)));
    ASSERT_TRUE(s->apply(bundle({{"hello/libhello.so", "v3"}})));
    ASSERT_EQ(s->mark_good(), caf::error{});
  }
  ASSERT_EQ(clear_overlays(opts), caf::error{});
  auto s = open_store();
  EXPECT_TRUE(s->stack().empty());
  EXPECT_TRUE(s->last_good().empty());
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "hello v1");
}

// Manifests round-trip through their text form.
TEST_F(overlay_store_test, manifest_round_trip) {
  auto m = manifest_of({{"hello/libhello.so", "x", 0755}, {"hello/priv/y", std::nullopt}}, true);
  auto parsed = parse_manifest(format_manifest(m));
  ASSERT_TRUE(parsed) << describe(parsed.error());
  EXPECT_EQ(format_manifest(*parsed), format_manifest(m));
  EXPECT_EQ(parsed->files[0].mode, 0755u);
  EXPECT_TRUE(parsed->persist);
}

}  // namespace

// -- new apps by push ---------------------------------------------------------

// A store that accepts new apps installs one with its module, lists it among
// its apps as pushed, and a push of whiteouts for all its files withdraws it.
TEST_F(overlay_store_test, new_app_is_installed_and_withdrawn) {
  opts.allow_new_apps = true;
  auto s = open_store();
  EXPECT_EQ(s->apps(), (std::set<std::string>{"hello", "ticker"}));
  auto r =
      s->apply(bundle({{"blink/libblink.so", "blink v1"},
                       {"blink/app.toml", "restart = \"transient\"\nmemory_limit_mb = 64\n"}}));
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->changed_apps.count("blink"), 1u);
  EXPECT_EQ(s->apps(), (std::set<std::string>{"blink", "hello", "ticker"}));
  EXPECT_TRUE(s->pushed("blink"));
  EXPECT_FALSE(s->pushed("hello"));
  auto module = s->module_path("blink");
  ASSERT_TRUE(module);
  EXPECT_EQ(read_file(*module), "blink v1");

  r = s->apply(bundle({{"blink/libblink.so", std::nullopt}, {"blink/app.toml", std::nullopt}}));
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->changed_apps.count("blink"), 1u);
  EXPECT_EQ(s->apps(), (std::set<std::string>{"hello", "ticker"}));
  EXPECT_FALSE(s->pushed("blink"));
}

// Rolling back past a new app's first push takes the app away again.
TEST_F(overlay_store_test, new_app_rollback_removes_it) {
  opts.allow_new_apps = true;
  auto s = open_store();
  ASSERT_FALSE(s->mark_good());
  ASSERT_TRUE(s->apply(bundle({{"blink/libblink.so", "blink v1"}})));
  auto r = s->rollback();
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->changed_apps.count("blink"), 1u);
  EXPECT_EQ(s->apps().count("blink"), 0u);
}

// New apps are refused when the store does not allow them, without a module,
// with a name that is not an app name, a partial removal that would leave the
// app without its module, and with a hostile app.toml — and nothing changes.
TEST_F(overlay_store_test, new_app_bad_input_changes_nothing) {
  opts.allow_new_apps = true;
  auto s = open_store();
  ASSERT_TRUE(s->apply(bundle({{"blink/libblink.so", "blink v1"}, {"blink/priv/x", "x"}})));
  auto before = snapshot(dir.path());
  struct bad_case {
    std::string name;
    std::string bundle;
    overlay_errc code;
    std::string says;
  };
  std::vector<bad_case> cases{
      {"no module", bundle({{"other/priv/x", "x"}}), overlay_errc::bad_format, "no libother.so"},
      {"partial removal", bundle({{"blink/libblink.so", std::nullopt}}), overlay_errc::bad_format,
       "push --remove"},
      {"dash in a new app's name", bundle({{"my-app/libmy-app.so", "x"}}), overlay_errc::bad_path,
       "not a name for a new app"},
      {"digit first", bundle({{"9lives/lib9lives.so", "x"}}), overlay_errc::bad_path,
       "not a name for a new app"},
      {"unknown key", bundle({{"blink/app.toml", "colour = \"red\"\n"}}),
       overlay_errc::bad_settings, "unknown key 'colour'"},
      {"bad value", bundle({{"blink/app.toml", "restart = \"sometimes\"\n"}}),
       overlay_errc::bad_settings, "must be one of permanent, transient, temporary"},
      {"wrong type", bundle({{"blink/app.toml", "intensity = \"3\"\n"}}),
       overlay_errc::bad_settings, "must be an integer"},
      {"out of range", bundle({{"blink/app.toml", "memory_limit_mb = -1\n"}}),
       overlay_errc::bad_settings, "must be between"},
      {"module key", bundle({{"blink/app.toml", "module = \"/bin/sh\"\n"}}),
       overlay_errc::bad_settings, "unknown key 'module'"},
      {"a section", bundle({{"blink/app.toml", "[overlays]\nallow_unsigned = true\n"}}),
       overlay_errc::bad_settings, "unknown key 'overlays'"},
      {"syntax", bundle({{"blink/app.toml", "restart = \n"}}), overlay_errc::bad_settings,
       "app.toml:1"},
      {"1 MiB", bundle({{"blink/app.toml", "# " + std::string(1 << 20, 'x') + "\n"}}),
       overlay_errc::bad_settings, "at most 65536"},
      {"a configured app's bad app.toml", bundle({{"hello/app.toml", "restart = 1\n"}}),
       overlay_errc::bad_settings, "must be a string"},
  };
  for (const auto& c : cases) {
    auto r = s->apply(c.bundle);
    ASSERT_FALSE(r) << c.name << " was accepted";
    EXPECT_EQ(r.error().code(), static_cast<uint8_t>(c.code))
        << c.name << ": " << describe(r.error());
    EXPECT_NE(describe(r.error()).find(c.says), std::string::npos)
        << c.name << ": " << describe(r.error());
    EXPECT_EQ(snapshot(dir.path()), before) << c.name << " changed the store";
  }
  opts.allow_new_apps = false;
  s.reset();
  s = open_store();
  auto r = s->apply(bundle({{"other/libother.so", "x"}}));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), static_cast<uint8_t>(overlay_errc::unknown_app));
  EXPECT_NE(describe(r.error()).find("overlays.allow_new_apps = false"), std::string::npos);
}

// Issue 18, anti-rollback: with require_binding, a signed overlay must name
// the running firmware and a sequence above the last applied; the last
// sequence survives a reopen, a refused overlay changes nothing.
TEST_F(overlay_store_test, replayed_and_foreign_overlays_refused) {
  opts.require_binding = true;
  auto s = open_store();
  s->set_running_firmware("fw-1");
  auto bound = [&](const std::string& contents, const std::string& firmware, uint64_t seq) {
    auto m = manifest_of({{"hello/libhello.so", contents}}, true);
    m.firmware = firmware;
    m.sequence = seq;
    return make_bundle(m, {contents}, &keys.secret);
  };
  auto v2 = bound("v2", "fw-1", 10);
  ASSERT_TRUE(s->apply(v2));
  EXPECT_EQ(s->last_sequence(), 10u);
  auto stack = s->stack();
  auto code_of = [](const caf::expected<overlay_change>& r) {
    return r ? overlay_errc{} : static_cast<overlay_errc>(r.error().code());
  };
  EXPECT_EQ(code_of(s->apply(v2)), overlay_errc::stale) << "the same overlay again";
  EXPECT_EQ(code_of(s->apply(bound("v3", "fw-1", 9))), overlay_errc::stale) << "an older one";
  EXPECT_EQ(code_of(s->apply(bound("v3", "fw-2", 11))), overlay_errc::stale) << "other firmware";
  EXPECT_EQ(code_of(s->apply(bundle({{"hello/libhello.so", "v3"}}))), overlay_errc::stale)
      << "no binding at all";
  EXPECT_EQ(s->stack().size(), stack.size());
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "v2");
  // Reopened (a reboot): the sequence is remembered.
  s.reset();
  s = open_store();
  s->set_running_firmware("fw-1");
  EXPECT_EQ(s->last_sequence(), 10u);
  EXPECT_EQ(code_of(s->apply(v2)), overlay_errc::stale);
  ASSERT_TRUE(s->apply(bound("v4", "fw-1", 11)));
  EXPECT_EQ(contents_at(*s, "hello", "libhello.so"), "v4");
  // Unsigned overlays (host mode) carry no binding to check.
  opts.allow_unsigned = true;
  s.reset();
  s = open_store();
  EXPECT_TRUE(s->apply(make_bundle(manifest_of({{"hello/libhello.so", "v5"}}), {"v5"}, nullptr)));
}

TEST(overlay_manifest, binding_lines_round_trip_and_are_checked) {
  overlay_manifest m;
  m.apps = {"hello"};
  m.firmware = "2f0c0e1a-uuid";
  m.sequence = 1733212345678;
  m.whiteouts = {"hello/x"};
  auto text = format_manifest(m);
  auto back = parse_manifest(text);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->firmware, m.firmware);
  EXPECT_EQ(back->sequence, m.sequence);
  for (const char* bad : {"sequence 0\n", "sequence x\n", "sequence 1\nsequence 2\n",
                          "firmware a\nfirmware b\n", "firmware \n"}) {
    auto t = std::string{"myelin-overlay-manifest 1\napp hello\n"} + bad + "whiteout hello/x\n";
    EXPECT_FALSE(parse_manifest(t)) << bad;
  }
}
