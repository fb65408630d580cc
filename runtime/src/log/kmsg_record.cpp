// The /dev/kmsg record parser. Plain standard C++ only (fuzzed alone by clang).
#include "myelin/runtime/log/kmsg_record.hpp"

namespace myelin::runtime {

namespace {

/// A decimal number of at most `max_digits` digits, no sign, no spaces.
std::optional<uint64_t> decimal(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) {
    return std::nullopt;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return std::nullopt;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

std::optional<kmsg_record> fail(std::string* error, const char* why) {
  if (error != nullptr) {
    *error = why;
  }
  return std::nullopt;
}

}  // namespace

std::optional<kmsg_record> parse_kmsg_record(std::string_view text, std::string* error) {
  if (text.empty()) {
    return fail(error, "empty record");
  }
  auto semi = text.find(';');
  auto first_newline = text.find('\n');
  if (semi == std::string_view::npos ||
      (first_newline != std::string_view::npos && first_newline < semi)) {
    return fail(error, "no ';' after the record prefix");
  }
  auto prefix = text.substr(0, semi);
  // priority,sequence,timestamp,flags[,further fields the kernel may add]
  std::string_view fields[4];
  size_t n = 0;
  size_t start = 0;
  while (n < 4) {
    auto comma = prefix.find(',', start);
    if (comma == std::string_view::npos) {
      fields[n++] = prefix.substr(start);
      break;
    }
    fields[n++] = prefix.substr(start, comma - start);
    start = comma + 1;
  }
  if (n < 4) {
    return fail(error, "the prefix needs priority,sequence,timestamp,flags");
  }
  kmsg_record r;
  auto prio = decimal(fields[0], 4);
  if (!prio || *prio > 1023) {
    return fail(error, "the priority is not a number 0..1023");
  }
  r.priority = static_cast<int>(*prio);
  // 19 digits always fit in 64 bits.
  auto seq = decimal(fields[1], 19);
  if (!seq) {
    return fail(error, "the sequence number is not a decimal number");
  }
  r.sequence = *seq;
  auto ts = decimal(fields[2], 19);
  if (!ts) {
    return fail(error, "the timestamp is not a decimal number");
  }
  r.timestamp_us = *ts;
  if (fields[3].empty() || fields[3].size() > 8) {
    return fail(error, "the flags field is missing or too long");
  }
  r.flags = fields[3][0];

  auto body = text.substr(semi + 1);
  auto eol = body.find('\n');
  r.message = std::string{body.substr(0, eol)};
  if (eol == std::string_view::npos) {
    return r;
  }
  auto rest = body.substr(eol + 1);
  while (!rest.empty()) {
    auto end = rest.find('\n');
    auto line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
    if (line.empty()) {
      continue;
    }
    if (line[0] != ' ') {
      return fail(error, "a continuation line does not start with a space");
    }
    line.remove_prefix(1);
    auto eq = line.find('=');
    if (eq == std::string_view::npos) {
      r.dictionary.emplace_back(std::string{line}, std::string{});
    } else {
      r.dictionary.emplace_back(std::string{line.substr(0, eq)}, std::string{line.substr(eq + 1)});
    }
  }
  return r;
}

}  // namespace myelin::runtime
