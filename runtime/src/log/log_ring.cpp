// The in-memory ring of log records.
#include "myelin/runtime/log/log_ring.hpp"

#include <algorithm>

namespace myelin::runtime {

const char* to_string(log_origin x) {
  switch (x) {
    case log_origin::core:
      return "core";
    case log_origin::app:
      return "app";
    case log_origin::kernel:
      return "kernel";
    case log_origin::syslog:
      return "syslog";
    case log_origin::daemon:
      return "daemon";
  }
  return "?";
}

log_ring::log_ring(size_t capacity, size_t max_message)
    : slots_(std::max<size_t>(capacity, 1)), max_message_(std::max<size_t>(max_message, 16)) {}

std::string log_ring::clean(std::string_view text, size_t max) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max) + 8);
  size_t i = 0;
  for (; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t need = (c < 0x20 && c != '\t') || c == 0x7f ? 4 : 1;
    if (out.size() + need > max) {
      break;
    }
    if (need == 4) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (i < text.size()) {
    // Do not leave half a UTF-8 sequence behind.
    for (int k = 0; k < 3 && !out.empty() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80;
         ++k) {
      out.pop_back();
      --i;
    }
    out += " [" + std::to_string(text.size() - i) + " bytes cut]";
  }
  return out;
}

uint64_t log_ring::push(log_record r) {
  r.message = clean(r.message, max_message_);
  if (r.source.size() > 128) {
    r.source = clean(r.source, 128);
  }
  uint64_t seq = 0;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    seq = r.seq = next_seq_++;
    if (count_ < slots_.size()) {
      slots_[(head_ + count_) % slots_.size()] = std::move(r);
      ++count_;
    } else {
      slots_[head_] = std::move(r);
      head_ = (head_ + 1) % slots_.size();
    }
  }
  cv_.notify_all();
  return seq;
}

uint64_t log_ring::push(spdlog::level::level_enum level, log_origin origin, std::string_view source,
                        std::string_view message) {
  log_record r;
  r.time = std::chrono::system_clock::now();
  r.level = level;
  r.origin = origin;
  r.source = std::string{source};
  r.message = std::string{message};
  return push(std::move(r));
}

namespace {

bool matches(const log_record& r, const log_query& q) {
  return r.level >= q.min_level && (!q.origin || r.origin == *q.origin) &&
         (q.source.empty() || r.source == q.source);
}

}  // namespace

log_page log_ring::query(const log_query& q) const {
  log_page page;
  std::lock_guard<std::mutex> guard{mtx_};
  page.last = next_seq_ - 1;
  page.first = count_ == 0 ? 0 : next_seq_ - count_;
  page.next = page.last;
  if (q.limit == 0 || count_ == 0) {
    if (q.since) {
      page.next = std::max(*q.since, page.last);
      page.dropped = count_ > 0 && *q.since + 1 < page.first ? page.first - *q.since - 1 : 0;
    }
    return page;
  }
  auto at = [this](uint64_t seq) -> const log_record& {
    auto first = next_seq_ - count_;
    return slots_[(head_ + (seq - first)) % slots_.size()];
  };
  if (q.since) {
    auto since = *q.since;
    if (since + 1 < page.first) {
      page.dropped = page.first - since - 1;
    }
    page.next = std::max(since, page.last);
    for (auto seq = std::max(since + 1, page.first); seq <= page.last; ++seq) {
      const auto& r = at(seq);
      if (matches(r, q)) {
        page.records.push_back(r);
        if (page.records.size() == q.limit) {
          page.next = seq;
          break;
        }
      }
    }
    return page;
  }
  for (auto seq = page.last; seq >= page.first && seq > 0; --seq) {
    const auto& r = at(seq);
    if (matches(r, q)) {
      page.records.push_back(r);
      if (page.records.size() == q.limit) {
        break;
      }
    }
  }
  std::reverse(page.records.begin(), page.records.end());
  return page;
}

bool log_ring::wait_newer(uint64_t seq, std::chrono::steady_clock::time_point deadline) const {
  std::unique_lock<std::mutex> lock{mtx_};
  return cv_.wait_until(lock, deadline, [&] { return next_seq_ - 1 > seq; });
}

size_t log_ring::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return count_;
}

uint64_t log_ring::last_seq() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return next_seq_ - 1;
}

uint64_t log_ring::overwritten() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return next_seq_ - 1 - count_;
}

spdlog::level::level_enum level_of_severity(int severity) {
  switch (severity & 7) {
    case 0:
    case 1:
    case 2:
      return spdlog::level::critical;
    case 3:
      return spdlog::level::err;
    case 4:
      return spdlog::level::warn;
    case 5:
    case 6:
      return spdlog::level::info;
    default:
      return spdlog::level::debug;
  }
}

int severity_of_level(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::critical:
      return 2;
    case spdlog::level::err:
      return 3;
    case spdlog::level::warn:
      return 4;
    case spdlog::level::info:
      return 6;
    default:
      return 7;
  }
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view name) {
  static const std::pair<const char*, spdlog::level::level_enum> names[] = {
      {"trace", spdlog::level::trace},  {"debug", spdlog::level::debug},
      {"info", spdlog::level::info},    {"warn", spdlog::level::warn},
      {"warning", spdlog::level::warn}, {"error", spdlog::level::err},
      {"err", spdlog::level::err},      {"critical", spdlog::level::critical}};
  for (const auto& [n, l] : names) {
    if (name == n) {
      return l;
    }
  }
  return std::nullopt;
}

}  // namespace myelin::runtime
