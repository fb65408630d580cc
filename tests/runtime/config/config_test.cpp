// Tests of runtime/src/config/config.cpp: the TOML configuration and its schema.
#include "myelin/runtime/config/config.hpp"

#include <gtest/gtest.h>

#include <random>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;

namespace {

config_errc code_of(const caf::error& err) {
  return static_cast<config_errc>(err.code());
}

}  // namespace

// Every schema key without a wildcard has its default in a fresh config.
TEST(config, defaults_cover_schema) {
  config cfg;
  for (const auto& k : config_schema()) {
    if (k.name.find('*') == std::string::npos) {
      ASSERT_NE(cfg.find(k.name), nullptr) << k.name;
      EXPECT_EQ(*cfg.find(k.name), k.default_value) << k.name;
    }
  }
  EXPECT_EQ(cfg.get_int("control.port"), 4848);
  EXPECT_EQ(cfg.get_string("log.level"), "info");
}

// A valid file sets the values it names and keeps the defaults of the others.
TEST(config, parse_valid_file) {
  auto cfg = parse_config("[control]\nport = 5000\n[log]\nlevel = \"debug\"\n", "t.toml");
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->get_int("control.port"), 5000);
  EXPECT_EQ(cfg->get_string("log.level"), "debug");
  EXPECT_EQ(cfg->get_string("control.address"), "127.0.0.1");
  EXPECT_EQ(cfg->source(), "t.toml");
}

// An unknown key is refused with its name, file, line and a suggestion.
TEST(config, unknown_key_names_key_line_and_suggestion) {
  auto cfg = parse_config("[control]\n\nprot = 5000\n", "dev.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(code_of(cfg.error()), config_errc::unknown_key);
  EXPECT_EQ(describe(cfg.error()),
            "dev.toml:3: unknown key 'control.prot' (did you mean 'control.port'?)");
}

// An unknown section is refused as a whole.
TEST(config, unknown_section) {
  auto cfg = parse_config("[contrl]\nport = 1\n", "x.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(code_of(cfg.error()), config_errc::unknown_key);
  EXPECT_NE(describe(cfg.error()).find("unknown section [contrl]"), std::string::npos)
      << describe(cfg.error());
}

// A value of the wrong type names the key and the expected type.
TEST(config, type_mismatch) {
  auto cfg = parse_config("[control]\nport = \"4848\"\n", "x.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(code_of(cfg.error()), config_errc::type_mismatch);
  EXPECT_EQ(describe(cfg.error()), "x.toml:2: 'control.port' must be an integer, got '4848'");
}

// Numbers outside their range and strings outside their choices are refused.
TEST(config, invalid_values) {
  auto port = parse_config("control.port = 70000\n", "x.toml");
  ASSERT_FALSE(port);
  EXPECT_EQ(code_of(port.error()), config_errc::invalid_value);
  EXPECT_NE(describe(port.error()).find("between 0 and 65535, got 70000"), std::string::npos);
  auto level = parse_config("log.level = \"loud\"\n", "x.toml");
  ASSERT_FALSE(level);
  EXPECT_EQ(code_of(level.error()), config_errc::invalid_value);
  EXPECT_NE(describe(level.error()).find("must be one of trace, debug"), std::string::npos);
}

// A TOML syntax error gives the line and column.
TEST(config, syntax_error_has_position) {
  auto cfg = parse_config("[control]\nport = = 1\n", "x.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(code_of(cfg.error()), config_errc::syntax_error);
  EXPECT_EQ(describe(cfg.error()).rfind("x.toml:2:", 0), 0u) << describe(cfg.error());
}

// A missing file is reported as unreadable, naming the path.
TEST(config, missing_file_unreadable) {
  auto cfg = load_config("/nonexistent/myelin.toml");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(code_of(cfg.error()), config_errc::unreadable);
  EXPECT_NE(describe(cfg.error()).find("/nonexistent/myelin.toml"), std::string::npos);
}

// Random bytes, NULs, deep nesting and a huge file give errors, never a crash.
TEST(config, hostile_input_rejected) {
  std::mt19937 rng(42);
  for (int i = 0; i < 200; ++i) {
    std::string junk(static_cast<size_t>(rng() % 512), '\0');
    for (auto& c : junk) {
      c = static_cast<char>(rng());
    }
    auto cfg = parse_config(junk, "junk");
    if (cfg) {
      // Only an input that happens to be empty TOML may parse.
      EXPECT_EQ(cfg->values(), config{}.values());
    }
  }
  EXPECT_FALSE(parse_config(std::string("log.level = \"a\0b\"\n", 19), "nul"));
  EXPECT_FALSE(parse_config(std::string(10000, '[') + "x" + std::string(10000, ']'), "deep"));
  std::string big;
  for (int i = 0; i < 200000; ++i) {
    big += "k" + std::to_string(i) + " = 1\n";
  }
  auto cfg = parse_config(big, "big");
  ASSERT_FALSE(cfg);
  EXPECT_EQ(code_of(cfg.error()), config_errc::unknown_key);
}

// --set overrides parse the value by the key's type and refuse bad input.
TEST(config, overrides) {
  config cfg;
  EXPECT_FALSE(apply_override(cfg, "control.port=0"));
  EXPECT_EQ(cfg.get_int("control.port"), 0);
  EXPECT_FALSE(apply_override(cfg, "state.dir=/tmp/a=b"));
  EXPECT_EQ(cfg.get_string("state.dir"), "/tmp/a=b");
  auto code = [&](const char* s) { return code_of(apply_override(cfg, s)); };
  EXPECT_EQ(code("control.port"), config_errc::bad_override);
  EXPECT_EQ(code("=1"), config_errc::bad_override);
  EXPECT_EQ(code("control.prot=1"), config_errc::unknown_key);
  EXPECT_EQ(code("control.port=abc"), config_errc::type_mismatch);
  EXPECT_EQ(code("control.port=12x"), config_errc::type_mismatch);
  EXPECT_EQ(code("control.port=-1"), config_errc::invalid_value);
  EXPECT_EQ(code("log.level=loud"), config_errc::invalid_value);
  // A refused override changes nothing.
  EXPECT_EQ(cfg.get_int("control.port"), 0);
  EXPECT_EQ(cfg.get_string("log.level"), "info");
}

// The shipped host-mode configuration is valid.
TEST(config, host_toml_valid) {
  auto path = myelin::test::source_dir() / "config" / "host.toml";
  auto cfg = load_config(path.string());
  ASSERT_TRUE(cfg) << describe(cfg.error());
}

// docs/configuration.md documents every key of the schema.
TEST(config, reference_documents_every_key) {
  auto doc = myelin::test::read_file(myelin::test::source_dir() / "docs" / "configuration.md");
  ASSERT_FALSE(doc.empty());
  for (const auto& k : config_schema()) {
    // Wildcard segments are written <name> in the docs: apps.<name>.restart.
    auto name = k.name;
    for (auto star = name.find('*'); star != std::string::npos; star = name.find('*')) {
      name.replace(star, 1, "<name>");
    }
    EXPECT_NE(doc.find("`" + name + "`"), std::string::npos)
        << k.name << " is missing from docs/configuration.md";
  }
}

// An app.toml sets the app's own keys; the device's [apps.<name>] wins key by
// key, and every key's source is reported.
TEST(config, app_defaults_merge_device_config_wins) {
  auto defaults = parse_app_defaults("restart = \"transient\"\nmemory_limit_mb = 64\n", "blink",
                                     "blink/app.toml");
  ASSERT_TRUE(defaults) << describe(defaults.error());
  auto device = parse_config("[apps.blink]\nmemory_limit_mb = 128\n", "device.toml");
  ASSERT_TRUE(device);
  settings_sources sources;
  auto merged = merge_app_defaults(*device, "blink", &*defaults, &sources);
  EXPECT_EQ(merged.get_string("apps.blink.restart"), "transient");
  EXPECT_EQ(merged.get_int("apps.blink.memory_limit_mb"), 128);
  EXPECT_EQ(merged.get_int("apps.blink.intensity"), 3);
  EXPECT_EQ(sources["restart"], "app.toml");
  EXPECT_EQ(sources["memory_limit_mb"], "config");
  EXPECT_EQ(sources["intensity"], "default");
  EXPECT_EQ(sources.count("module"), 1u);
  // Another app's section is untouched.
  EXPECT_EQ(merged.find("apps.other.restart"), nullptr);
}

// Bad app.toml files are refused naming the key (and line): unknown keys,
// `module`, sections, wrong types, values out of range, oversized files.
TEST(config, app_defaults_hostile_input_rejected) {
  struct bad_case {
    std::string text;
    config_errc code;
    std::string says;
  };
  std::vector<bad_case> cases{
      {"restart = \"permanent\"\ncolour = 1\n", config_errc::unknown_key, "app.toml:2"},
      {"module = \"/bin/sh\"\n", config_errc::unknown_key, "unknown key 'module'"},
      // An app cannot grant itself anything (issue 18).
      {"kv_write = [\"\"]\n", config_errc::unknown_key, "unknown key 'kv_write'"},
      {"kv_read = [\"bootargs\"]\n", config_errc::unknown_key, "unknown key 'kv_read'"},
      {"firmware = \"manage\"\n", config_errc::unknown_key, "unknown key 'firmware'"},
      {"[apps.hello]\nrestart = \"temporary\"\n", config_errc::unknown_key, "unknown key 'apps'"},
      {"intensity = 3.5\n", config_errc::type_mismatch, "must be an integer"},
      {"period_ms = 0\n", config_errc::invalid_value, "must be between 1 and"},
      {"on_failure = \"explode\"\n", config_errc::invalid_value, "continue, halt, reboot"},
      {"restart = \"permanent\"\nrestart = \"temporary\"\n", config_errc::syntax_error,
       "app.toml:2"},
      {std::string(70000, '#'), config_errc::invalid_value, "at most 65536"},
      {std::string("restart = \"a\0b\"\n", 16), config_errc::syntax_error, "app.toml:1"},
  };
  for (const auto& c : cases) {
    auto r = parse_app_defaults(c.text, "blink", "blink/app.toml");
    ASSERT_FALSE(r) << c.text.substr(0, 60);
    EXPECT_EQ(r.error().code(), static_cast<uint8_t>(c.code)) << describe(r.error());
    EXPECT_NE(describe(r.error()).find(c.says), std::string::npos) << describe(r.error());
  }
  EXPECT_TRUE(parse_app_defaults("", "blink", "blink/app.toml"));
}
