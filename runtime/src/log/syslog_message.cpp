// The syslog datagram parser (RFC 3164-ish and RFC 5424). Plain standard C++
// only (fuzzed alone by clang).
#include "myelin/runtime/log/syslog_message.hpp"

#include <cstring>

namespace myelin::runtime {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

/// A tag character: printable ASCII except space, ':', '[' and ']'.
bool is_tag_char(char c) {
  return c > ' ' && c < 0x7f && c != ':' && c != '[' && c != ']';
}

/// "Mmm dd hh:mm:ss " (dd may be " d"); returns its length (16) or 0.
size_t rfc3164_timestamp(std::string_view s) {
  static const char* months = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() < 16 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':' || s[15] != ' ') {
    return 0;
  }
  bool month = false;
  for (int m = 0; m < 12; ++m) {
    if (std::memcmp(months + 3 * m, s.data(), 3) == 0) {
      month = true;
    }
  }
  bool day = (s[4] == ' ' || is_digit(s[4])) && is_digit(s[5]);
  bool time = is_digit(s[7]) && is_digit(s[8]) && is_digit(s[10]) && is_digit(s[11]) &&
              is_digit(s[13]) && is_digit(s[14]);
  return month && day && time ? 16 : 0;
}

/// The next space-separated field of an RFC 5424 header ("-" means none).
bool next_field(std::string_view& s, std::string& out, size_t max) {
  auto sp = s.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp > max) {
    return false;
  }
  auto field = s.substr(0, sp);
  out = field == "-" ? std::string{} : std::string{field};
  s.remove_prefix(sp + 1);
  return true;
}

/// RFC 5424 after "<PRI>1 ": fills `m` and returns true, or false (then the
/// caller takes the content as RFC 3164).
bool parse_rfc5424(std::string_view s, syslog_message& m) {
  std::string msgid;
  syslog_message out;
  if (!next_field(s, out.timestamp, 64) || !next_field(s, out.hostname, 255) ||
      !next_field(s, out.ident, 48) || !next_field(s, out.pid, 128) || !next_field(s, msgid, 32)) {
    return false;
  }
  // STRUCTURED-DATA: "-" or one or more [id param="value" ...] elements.
  if (!s.empty() && s[0] == '-') {
    s.remove_prefix(1);
  } else {
    if (s.empty() || s[0] != '[') {
      return false;
    }
    while (!s.empty() && s[0] == '[') {
      size_t i = 1;
      bool quoted = false;
      for (; i < s.size(); ++i) {
        if (quoted && s[i] == '\\') {
          ++i;
        } else if (s[i] == '"') {
          quoted = !quoted;
        } else if (!quoted && s[i] == ']') {
          break;
        }
      }
      if (i >= s.size()) {
        return false;
      }
      s.remove_prefix(i + 1);
    }
  }
  if (!s.empty()) {
    if (s[0] != ' ') {
      return false;
    }
    s.remove_prefix(1);
  }
  // A UTF-8 message may start with a byte order mark.
  if (s.size() >= 3 && std::memcmp(s.data(), "\xEF\xBB\xBF", 3) == 0) {
    s.remove_prefix(3);
  }
  out.message = std::string{s};
  out.priority = m.priority;
  m = std::move(out);
  return true;
}

}  // namespace

syslog_message parse_syslog_message(std::string_view s) {
  syslog_message m;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == '\0')) {
    s.remove_suffix(1);
  }
  if (s.empty()) {
    m.error = "empty datagram";
    return m;
  }
  // <PRI>: 1 to 3 digits, 0..191.
  size_t close = 0;
  if (s[0] == '<') {
    size_t i = 1;
    while (i < s.size() && i <= 4 && is_digit(s[i])) {
      ++i;
    }
    if (i > 1 && i <= 4 && i < s.size() && s[i] == '>') {
      int pri = 0;
      for (size_t k = 1; k < i; ++k) {
        pri = pri * 10 + (s[k] - '0');
      }
      if (pri <= 191) {
        m.priority = pri;
        close = i + 1;
      }
    }
  }
  if (close == 0) {
    m.error = s[0] == '<' ? "invalid <PRI> (must be <0> .. <191>)" : "no <PRI> at the start";
    m.message = std::string{s};
    return m;
  }
  s.remove_prefix(close);
  if (s.size() >= 2 && s[0] == '1' && s[1] == ' ' && parse_rfc5424(s.substr(2), m)) {
    return m;
  }
  if (auto n = rfc3164_timestamp(s); n > 0) {
    m.timestamp = std::string{s.substr(0, n - 1)};
    s.remove_prefix(n);
  }
  // TAG[PID]: or TAG: ; anything else is all message.
  size_t i = 0;
  while (i < s.size() && i <= syslog_max_ident && is_tag_char(s[i])) {
    ++i;
  }
  if (i > 0 && i <= syslog_max_ident && i < s.size()) {
    auto tag = s.substr(0, i);
    auto rest = s.substr(i);
    std::string_view pid;
    bool ok = false;
    if (rest[0] == '[') {
      auto end = rest.find(']');
      if (end != std::string_view::npos && end <= 24 && end + 1 < rest.size() &&
          rest[end + 1] == ':') {
        pid = rest.substr(1, end - 1);
        rest.remove_prefix(end + 2);
        ok = true;
      }
    } else if (rest[0] == ':') {
      rest.remove_prefix(1);
      ok = true;
    }
    if (ok) {
      if (!rest.empty() && rest[0] == ' ') {
        rest.remove_prefix(1);
      }
      m.ident = std::string{tag};
      m.pid = std::string{pid};
      s = rest;
    }
  } else if (i == 0 && !s.empty() && s[0] == ':') {
    // "<13>: message": an empty tag.
    s.remove_prefix(s.size() > 1 && s[1] == ' ' ? 2 : 1);
  }
  m.message = std::string{s};
  return m;
}

}  // namespace myelin::runtime
