// Tests of the log hub: loggers write into the ring as core records, tailer
// records reach the extra sinks, and the [log] options of the configuration.
#include "myelin/runtime/log/log_hub.hpp"

#include <spdlog/sinks/ostream_sink.h>

#include <unistd.h>

#include <sstream>

#include <gtest/gtest.h>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;

namespace {

// A logger of the hub writes to the ring with its name as source.
TEST(log_hub, logger_records_in_ring) {
  logging_options o;
  o.console = "none";
  log_hub hub{o};
  auto l = std::make_shared<spdlog::logger>("hubtest", spdlog::sinks_init_list{});
  hub.adopt(*l);
  l->warn("disk {} full", "sda");
  auto page = hub.ring()->query({});
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].source, "hubtest");
  EXPECT_EQ(page.records[0].origin, log_origin::core);
  EXPECT_EQ(page.records[0].level, spdlog::level::warn);
  EXPECT_EQ(page.records[0].message, "disk sda full");
}

// Dispatched records reach an extra sink (the log file) with their source.
TEST(log_hub, dispatch_reaches_extra_sinks) {
  logging_options o;
  o.console = "none";
  log_hub hub{o};
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  sink->set_pattern("%l [%n] %v");
  hub.add_sink(sink);
  hub.dispatch(spdlog::level::err, log_origin::app, "hello", "boom\n");
  hub.remove_sink(sink);
  hub.dispatch(spdlog::level::err, log_origin::app, "hello", "not in the file");
  EXPECT_EQ(out.str(), "error [hello] boom\\x0a\n");
  EXPECT_EQ(hub.ring()->size(), 2u);
}

// The defaults of the [log] section, and relative socket paths under state.dir.
TEST(log_hub, options_from_config) {
  config cfg;
  ASSERT_FALSE(apply_override(cfg, "state.dir=/var/lib/x"));
  ASSERT_FALSE(apply_override(cfg, "log.syslog_socket=run/log.sock"));
  ASSERT_FALSE(apply_override(cfg, "log.ring_size=100"));
  auto o = logging_options_from(cfg);
  EXPECT_EQ(o.ring_size, 100u);
  EXPECT_EQ(o.console, "stdout");  // auto, and this is not PID 1
  EXPECT_EQ(syslog_socket_path(cfg), "/var/lib/x/run/log.sock");
  ASSERT_FALSE(apply_override(cfg, "log.syslog_socket=/dev/log"));
  EXPECT_EQ(syslog_socket_path(cfg), "/dev/log");
}

}  // namespace

namespace {

// The kmsg console writes `<PRI>myelin[pid]: [source] message` lines, and
// prints to stdout while the device cannot be opened (before /dev is mounted).
TEST(log_hub, kmsg_console) {
  myelin::test::temp_dir dir;
  logging_options o;
  o.console = "kmsg";
  o.kmsg_path = (dir / "kmsg").string();
  {
    testing::internal::CaptureStdout();
    log_hub early{o};
    auto l = std::make_shared<spdlog::logger>("early", spdlog::sinks_init_list{});
    early.adopt(*l);
    l->error("before mount");
    auto out = testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("[early] before mount"), std::string::npos) << out;
  }
  myelin::test::write_file(dir / "kmsg", "");
  log_hub hub{o};
  auto l = std::make_shared<spdlog::logger>("kv", spdlog::sinks_init_list{});
  hub.adopt(*l);
  l->warn("to the kernel");
  hub.dispatch(spdlog::level::err, log_origin::kernel, "kernel", "not written back");
  EXPECT_EQ(myelin::test::read_file(dir / "kmsg"),
            "<12>myelin[" + std::to_string(::getpid()) + "]: [kv] to the kernel\n");
}

}  // namespace

namespace {

// With the kmsg console, syslog and app records are not copied into the
// kernel log (only core loggers write there); they still reach the ring.
TEST(log_hub, kmsg_console_not_flooded_by_syslog) {
  myelin::test::temp_dir dir;
  myelin::test::write_file(dir / "kmsg", "");
  logging_options o;
  o.console = "kmsg";
  o.kmsg_path = (dir / "kmsg").string();
  log_hub hub{o};
  hub.dispatch(spdlog::level::err, log_origin::syslog, "syslog:chatty", "spam");
  hub.dispatch(spdlog::level::err, log_origin::app, "hello", "app line");
  EXPECT_EQ(myelin::test::read_file(dir / "kmsg"), "");
  EXPECT_EQ(hub.ring()->size(), 2u);
}

}  // namespace
