// Tests of tools/src/status_view.cpp: the text of `myelin status`.
#include "myelin/tools/status_view.hpp"

#include <gtest/gtest.h>

#include <string>

using myelin::tools::human_duration;
using myelin::tools::render_status;

namespace {

const char* sample = R"json({
  "device": "dev1", "version": "1.2.3", "uptime_ms": 65000, "state_dir": "/data",
  "control": "http://127.0.0.1:4848",
  "kv": {"backend": "memory", "keys": 3, "error": ""},
  "boot": {"core_ready_ms": 12.3, "ready_ms": 20.0, "apps_ready_ms": null},
  "tree": [
    {"id": "core", "status": "running", "type": "supervisor", "restarts": 0, "uptime_ms": 65000,
     "children": [
       {"id": "kv", "status": "running", "type": "worker", "restarts": 2, "uptime_ms": 1500},
       {"id": "firmware", "status": "restarting", "type": "worker", "restarts": 1,
        "uptime_ms": 0}]}],
  "apps": [
    {"name": "ticker", "state": "running", "module": "/apps/libticker.so", "isolation": "process",
     "restarts": 4, "uptime_ms": 3000, "last_exit": "killed by signal 11 (SIGSEGV)",
     "memory_limit": "64 MiB (RLIMIT_AS)", "version": "0.3.0",
     "hash": "0123456789abcdef0123456789abcdef"}]
})json";

}  // namespace

// Each tree row shows the child, its state, restarts and uptime (none when
// not running); supervisors are marked with a slash and their children indented.
TEST(status_view, tree_rows_with_restarts_and_uptime) {
  auto text = render_status(sample);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("uptime:   1 min 5 s\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("\n  core/                       running            0  1 min 5 s\n"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("\n    kv                        running            2  1 s\n"),
            std::string::npos)
      << *text;
  EXPECT_NE(text->find("\n    firmware                  restarting         1  -\n"),
            std::string::npos)
      << *text;
}

// The boot's readiness: each step's time since main, "-" for one not reached.
TEST(status_view, boot_readiness) {
  auto text = render_status(sample);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("boot:     core ready 12.3 ms, tree 20.0 ms, apps - (since main)\n"),
            std::string::npos)
      << *text;
  // Older devices do not say: no line.
  auto old = render_status(R"({"device": "d", "tree": []})");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->find("boot:"), std::string::npos) << *old;
}

// Each app shows state, restarts, uptime, version and hash, module, isolation,
// memory limit and why it last exited.
TEST(status_view, app_details) {
  auto text = render_status(sample);
  ASSERT_TRUE(text);
  EXPECT_NE(text->find("  ticker  running  restarts 4, up 3 s\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("    version:  0.3.0 (0123456789abcdef)\n"), std::string::npos) << *text;
  EXPECT_NE(text->find("isolation: process, memory limit 64 MiB (RLIMIT_AS)\n"), std::string::npos)
      << *text;
  EXPECT_NE(text->find("    last exit: killed by signal 11 (SIGSEGV)\n"), std::string::npos)
      << *text;
}

// Malformed, truncated and non-object bodies are refused with an error.
TEST(status_view, malformed_body_refused) {
  for (const auto* body : {"", "nope", "{\"device\": ", "[1, 2]", "42", "null"}) {
    EXPECT_FALSE(render_status(body)) << body;
  }
}

// Hostile shapes (wrong types, absurd nesting, huge numbers) render without
// crashing; unknown values show as "?".
TEST(status_view, hostile_shapes_render) {
  std::string deep = "[";
  for (int i = 0; i < 200; ++i) {
    deep += R"({"id": "x", "children": [)";
  }
  for (int i = 0; i < 200; ++i) {
    deep += "]}";
  }
  deep += "]";
  for (const std::string& body :
       {std::string{R"({"tree": 5, "apps": "x", "kv": [], "uptime_ms": "soon"})"},
        std::string{R"({"tree": [1, null, {"id": 7, "status": [], "uptime_ms": 1e300}]})"},
        std::string{R"({"apps": [null, 3, {"name": {}, "hash": 5}]})"},
        std::string{R"({"tree": )"} + deep + "}"}) {
    auto text = render_status(body);
    ASSERT_TRUE(text) << body;
    EXPECT_NE(text->find("device:   ?"), std::string::npos);
  }
}

// Durations read naturally at every scale.
TEST(status_view, human_durations) {
  EXPECT_EQ(human_duration(-5), "0 ms");
  EXPECT_EQ(human_duration(850), "850 ms");
  EXPECT_EQ(human_duration(12'000), "12 s");
  EXPECT_EQ(human_duration(184'000), "3 min 4 s");
  EXPECT_EQ(human_duration(7'500'000), "2 h 5 min");
  EXPECT_EQ(human_duration(274'000'000), "3 d 4 h");
}
