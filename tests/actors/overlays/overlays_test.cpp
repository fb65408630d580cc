// Tests of the overlay store's options from config (actors/src/overlays/overlays.cpp).
#include "myelin/actors/overlays.hpp"

#include <cstdlib>

#include <gtest/gtest.h>

#include "myelin/test/support.hpp"

using namespace myelin;

namespace {

runtime::config config_of(const std::string& toml) {
  auto cfg = runtime::parse_config(toml, "test.toml");
  EXPECT_TRUE(cfg) << runtime::describe(cfg.error());
  return cfg ? *cfg : runtime::config{};
}

}  // namespace

// Paths, keys, limits and the configured apps come from config; a relative
// volatile dir lives under the state dir.
TEST(overlay_options, from_config) {
  auto keys = runtime::generate_key_pair();
  auto cfg = config_of(
      "[apphost]\nbase_dir = \"/opt/apps/\"\n"
      "[overlays]\nvolatile_dir = \"run/ov\"\nmax_depth = 3\n"
      "trusted_keys = [\"" +
      runtime::format_public_key(keys.pub) +
      "\"]\n"
      "[apps.hello]\nenabled = true\n[apps.ticker]\nenabled = true\n");
  auto o = actors::overlay_options_from(cfg, "/var/lib/myelin");
  ASSERT_TRUE(o) << runtime::describe(o.error());
  EXPECT_EQ(o->base_dir, "/opt/apps");
  EXPECT_EQ(o->persistent_dir, "/var/lib/myelin/overlays");
  EXPECT_EQ(o->volatile_dir, "/var/lib/myelin/run/ov");
  EXPECT_EQ(o->max_depth, 3u);
  EXPECT_FALSE(o->allow_unsigned);
  ASSERT_EQ(o->trusted_keys.size(), 1u);
  EXPECT_EQ(o->trusted_keys[0], keys.pub);
  EXPECT_EQ(o->known_apps, (std::set<std::string>{"hello", "ticker"}));
  auto defaults = actors::overlay_options_from(runtime::config{}, "/s");
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->volatile_dir, "/run/myelin/overlays");
}

// A trusted key that is not "ed25519:<base64>" is a config error naming the key.
TEST(overlay_options, malformed_trusted_key_refused) {
  auto cfg = config_of("[overlays]\ntrusted_keys = [\"ed25519:nope\"]\n");
  auto o = actors::overlay_options_from(cfg, "/s");
  ASSERT_FALSE(o);
  EXPECT_NE(runtime::describe(o.error()).find("overlays.trusted_keys"), std::string::npos);
}

// The service opens the store under the state dir; a store that cannot be
// opened leaves overlays off, and the base apps still run.
TEST(overlay_options, open_service) {
  myelin::test::temp_dir dir;
  auto cfg = config_of("[overlays]\nprobation_s = 7\n");
  auto s = actors::open_overlay_service(cfg, dir.path().string());
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->store);
  EXPECT_EQ(s->probation.count(), 7);
  myelin::test::write_file(dir / "blocked", "a file where a directory must be");
  s = actors::open_overlay_service(cfg, (dir / "blocked").string());
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->store);
}
