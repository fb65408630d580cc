// GET /v1/logs (records of the ring, with long-poll) and GET /v1/logs/stats.
#include "log/console_logs.hpp"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "myelin/runtime/log/log_hub.hpp"

namespace myelin::actors {

namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

/// One flag per server: set when it stops, so that long-polls end.
std::mutex stopping_mtx;
std::map<const httplib::Server*, std::shared_ptr<std::atomic<bool>>> stopping;

std::shared_ptr<std::atomic<bool>> stop_flag(const httplib::Server& srv) {
  std::lock_guard<std::mutex> guard{stopping_mtx};
  auto& flag = stopping[&srv];
  if (!flag) {
    flag = std::make_shared<std::atomic<bool>>(false);
  }
  return flag;
}

/// Long-polls allowed at once: each holds one of the server's few threads.
constexpr int max_waiters = 2;
std::atomic<int> waiters{0};

constexpr uint64_t max_limit = 10000;
constexpr uint64_t max_wait_ms = 30000;

void bad_request(httplib::Response& res, const std::string& why) {
  res.status = 400;
  res.set_content(json{{"error", why}}.dump(), "application/json");
}

/// A decimal parameter in [0, max]; nullopt if absent; error text if bad.
std::optional<uint64_t> number_param(const httplib::Request& req, const char* name, uint64_t max,
                                     std::string& error) {
  if (!req.has_param(name)) {
    return std::nullopt;
  }
  auto text = req.get_param_value(name);
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max) {
    error = std::string{"'"} + name + "' must be a number 0.." + std::to_string(max);
    return std::nullopt;
  }
  return v;
}

std::string iso_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof(out), "%s.%06lldZ", buf, static_cast<long long>(us % 1000000));
  return out;
}

json record_json(const runtime::log_record& r) {
  auto level = spdlog::level::to_string_view(r.level);
  return {
      {"seq", r.seq},
      {"time", iso_time(r.time)},
      {"time_us",
       std::chrono::duration_cast<std::chrono::microseconds>(r.time.time_since_epoch()).count()},
      {"level", std::string{level.data(), level.size()}},
      {"origin", runtime::to_string(r.origin)},
      {"source", r.source},
      {"message", r.message}};
}

std::string dump(const json& j) {
  // Messages are bytes from anywhere: invalid UTF-8 becomes U+FFFD.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

void stop_log_routes(const httplib::Server& srv) {
  std::lock_guard<std::mutex> guard{stopping_mtx};
  auto i = stopping.find(&srv);
  if (i != stopping.end()) {
    *i->second = true;
    // A later server may get the same address.
    stopping.erase(i);
  }
}

void install_log_routes(httplib::Server& srv) {
  auto stopped = stop_flag(srv);
  srv.Get("/v1/logs", [stopped](const httplib::Request& req, httplib::Response& res) {
    auto hub = runtime::log_hub::current();
    if (!hub) {
      res.status = 503;
      return res.set_content(json{{"error", "logging is not set up"}}.dump(), "application/json");
    }
    std::string error;
    runtime::log_query q;
    auto since = number_param(req, "since", UINT64_MAX - 1, error);
    auto limit = number_param(req, "limit", max_limit, error);
    auto wait_ms = number_param(req, "wait_ms", max_wait_ms, error);
    if (!error.empty()) {
      return bad_request(res, error);
    }
    q.since = since;
    q.limit = limit.value_or(since ? 1000 : 100);
    if (req.has_param("level")) {
      auto level = runtime::parse_log_level(req.get_param_value("level"));
      if (!level) {
        return bad_request(res, "'level' must be trace, debug, info, warn, error or critical");
      }
      q.min_level = *level;
    }
    if (req.has_param("app")) {
      q.origin = runtime::log_origin::app;
      q.source = req.get_param_value("app");
      if (q.source.empty()) {
        return bad_request(res, "'app' must name an app");
      }
    }
    if (req.has_param("source")) {
      if (req.has_param("app")) {
        return bad_request(res, "give 'app' or 'source', not both");
      }
      q.source = req.get_param_value("source");
    }
    const auto& ring = *hub->ring();
    auto page = ring.query(q);
    // Long-poll: only after `since`, only while nothing matched yet.
    if (since && wait_ms && *wait_ms > 0 && page.records.empty()) {
      if (waiters.fetch_add(1) < max_waiters) {
        auto deadline = steady::now() + std::chrono::milliseconds{*wait_ms};
        while (page.records.empty() && steady::now() < deadline && !*stopped) {
          // Short slices, so that a stopping server is not held up.
          ring.wait_newer(page.next,
                          std::min(deadline, steady::now() + std::chrono::milliseconds{250}));
          q.since = page.next;
          auto dropped = page.dropped;
          page = ring.query(q);
          page.dropped += dropped;
        }
      }
      waiters.fetch_sub(1);
    }
    json records = json::array();
    for (const auto& r : page.records) {
      records.push_back(record_json(r));
    }
    res.set_content(dump({{"boot", hub->boot_id()},
                          {"records", std::move(records)},
                          {"next", page.next},
                          {"first", page.first},
                          {"last", page.last},
                          {"dropped", page.dropped}}),
                    "application/json");
  });
  srv.Get("/v1/logs/stats", [](const httplib::Request&, httplib::Response& res) {
    auto hub = runtime::log_hub::current();
    if (!hub) {
      res.status = 503;
      return res.set_content(json{{"error", "logging is not set up"}}.dump(), "application/json");
    }
    auto& c = hub->counters();
    const auto& ring = *hub->ring();
    res.set_content(json{{"ring_capacity", ring.capacity()},
                         {"ring_records", ring.size()},
                         {"ring_last_seq", ring.last_seq()},
                         {"ring_overwritten", ring.overwritten()},
                         {"max_message", ring.max_message()},
                         {"kmsg_records", c.kmsg_records.load()},
                         {"kmsg_lost", c.kmsg_lost.load()},
                         {"kmsg_overruns", c.kmsg_overruns.load()},
                         {"kmsg_malformed", c.kmsg_malformed.load()},
                         {"syslog_records", c.syslog_records.load()},
                         {"syslog_malformed", c.syslog_malformed.load()},
                         {"syslog_truncated", c.syslog_truncated.load()}}
                        .dump(),
                    "application/json");
  });
}

}  // namespace myelin::actors
