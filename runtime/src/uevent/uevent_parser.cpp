// Parses kernel (and libudev) uevent messages; standard C++ only, see the header.
#include "myelin/runtime/uevent/uevent_parser.hpp"

#include <cstring>

namespace myelin::runtime {

namespace {

constexpr char libudev_prefix[] = "libudev";  // 8 bytes with its NUL
constexpr uint32_t libudev_magic = 0xfeedcafe;
/// prefix[8], magic, header_size, properties_off, properties_len, and four
/// filter words: 40 bytes.
constexpr size_t libudev_header_size = 40;

uevent_parse_result fail(uevent_errc e, std::string detail) {
  uevent_parse_result r;
  r.error = e;
  r.detail = std::move(detail);
  return r;
}

/// A printable excerpt of untrusted bytes for error details.
std::string excerpt(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  if (s.size() > 40) {
    out += "...";
  }
  return out;
}

bool valid_key(std::string_view key) {
  if (key.empty()) {
    return false;
  }
  for (char c : key) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool valid_action(std::string_view action) {
  if (action.empty() || action.size() > max_uevent_action) {
    return false;
  }
  for (char c : action) {
    if (c < 'a' || c > 'z') {
      return false;
    }
  }
  return true;
}

bool parse_seqnum(std::string_view text, uint64_t& out) {
  if (text.empty() || text.size() > 19) {
    return false;
  }
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

uint32_t read_u32(const char* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

/// Parses the NUL-terminated KEY=VALUE block [p, p+n) into `ev`, filling the
/// well-known fields. The caller has checked that p[n-1] == '\0'.
uevent_parse_result parse_entries(const char* p, size_t n, uevent ev) {
  size_t pos = 0;
  size_t index = 0;
  std::string action_entry, devpath_entry;
  bool has_action = false, has_devpath = false;
  while (pos < n) {
    const char* start = p + pos;
    size_t len = std::strlen(start);  // bounded: p[n-1] == '\0'
    std::string_view entry{start, len};
    pos += len + 1;
    ++index;
    if (index > max_uevent_entries) {
      return fail(uevent_errc::too_large,
                  "more than " + std::to_string(max_uevent_entries) + " entries");
    }
    if (entry.empty()) {
      return fail(uevent_errc::bad_entry, "entry " + std::to_string(index) + " is empty");
    }
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) {
      return fail(uevent_errc::bad_entry,
                  "entry " + std::to_string(index) + " '" + excerpt(entry) + "' has no '='");
    }
    auto key = entry.substr(0, eq);
    auto value = entry.substr(eq + 1);
    if (!valid_key(key)) {
      return fail(uevent_errc::bad_entry,
                  "entry " + std::to_string(index) + " has a bad key '" + excerpt(key) + "'");
    }
    for (const auto& [k, v] : ev.entries) {
      if (k == key) {
        return fail(uevent_errc::bad_entry, "key '" + excerpt(key) + "' sent twice");
      }
    }
    if (key == "ACTION") {
      has_action = true;
      action_entry = value;
    } else if (key == "DEVPATH") {
      has_devpath = true;
      devpath_entry = value;
    } else if (key == "SUBSYSTEM") {
      ev.subsystem = value;
    } else if (key == "DEVPATH_OLD") {
      if (!valid_devpath(value)) {
        return fail(uevent_errc::bad_devpath, "DEVPATH_OLD '" + excerpt(value) + "'");
      }
      ev.devpath_old = value;
    } else if (key == "SEQNUM") {
      if (!parse_seqnum(value, ev.seqnum)) {
        return fail(uevent_errc::inconsistent, "SEQNUM '" + excerpt(value) + "' is not a number");
      }
    }
    ev.entries.emplace_back(std::string{key}, std::string{value});
  }
  if (ev.libudev) {
    // The libudev format has no header line: ACTION and DEVPATH are entries.
    if (!has_action || !valid_action(action_entry)) {
      return fail(uevent_errc::bad_action, "libudev message without a valid ACTION");
    }
    if (!has_devpath || !valid_devpath(devpath_entry)) {
      return fail(uevent_errc::bad_devpath, "libudev message without a valid DEVPATH");
    }
    ev.action = action_entry;
    ev.devpath = devpath_entry;
  } else {
    if (has_action && action_entry != ev.action) {
      return fail(
          uevent_errc::inconsistent,
          "ACTION '" + excerpt(action_entry) + "' disagrees with the header's '" + ev.action + "'");
    }
    if (has_devpath && devpath_entry != ev.devpath) {
      return fail(uevent_errc::inconsistent, "DEVPATH '" + excerpt(devpath_entry) +
                                                 "' disagrees with the header's '" +
                                                 excerpt(ev.devpath) + "'");
    }
  }
  if (ev.action == "move" && ev.devpath_old.empty()) {
    return fail(uevent_errc::inconsistent,
                "move of " + excerpt(ev.devpath) + " without DEVPATH_OLD");
  }
  uevent_parse_result r;
  r.event = std::move(ev);
  return r;
}

uevent_parse_result parse_libudev(const char* data, size_t size) {
  if (size < libudev_header_size) {
    return fail(uevent_errc::bad_libudev_header,
                "libudev message of " + std::to_string(size) + " bytes is shorter than its header");
  }
  // The magic is in network byte order; the other words in host order.
  const auto* m = reinterpret_cast<const unsigned char*>(data + 8);
  uint32_t magic = (uint32_t{m[0]} << 24) | (uint32_t{m[1]} << 16) | (uint32_t{m[2]} << 8) | m[3];
  if (magic != libudev_magic) {
    return fail(uevent_errc::bad_libudev_header, "libudev message with a wrong magic");
  }
  uint32_t header_size = read_u32(data + 12);
  uint32_t off = read_u32(data + 16);
  uint32_t len = read_u32(data + 20);
  if (header_size < libudev_header_size || off < header_size || len == 0 ||
      static_cast<uint64_t>(off) + len > size) {
    return fail(uevent_errc::bad_libudev_header,
                "libudev properties at " + std::to_string(off) + "+" + std::to_string(len) +
                    " outside a message of " + std::to_string(size) + " bytes");
  }
  if (data[off + len - 1] != '\0') {
    return fail(uevent_errc::not_terminated, "libudev properties do not end with a NUL");
  }
  uevent ev;
  ev.libudev = true;
  return parse_entries(data + off, len, std::move(ev));
}

}  // namespace

std::string to_string(uevent_errc x) {
  switch (x) {
    case uevent_errc::none:
      return "none";
    case uevent_errc::empty:
      return "empty message";
    case uevent_errc::too_large:
      return "too large";
    case uevent_errc::no_separator:
      return "no '@' separator";
    case uevent_errc::bad_action:
      return "bad action";
    case uevent_errc::bad_devpath:
      return "bad devpath";
    case uevent_errc::not_terminated:
      return "not NUL-terminated";
    case uevent_errc::bad_entry:
      return "bad KEY=VALUE entry";
    case uevent_errc::inconsistent:
      return "inconsistent entries";
    case uevent_errc::bad_libudev_header:
      return "bad libudev header";
  }
  return "unknown error";
}

bool valid_devpath(std::string_view devpath) {
  if (devpath.size() < 2 || devpath.front() != '/') {
    return false;
  }
  size_t pos = 1;
  while (pos <= devpath.size()) {
    auto slash = devpath.find('/', pos);
    auto end = slash == std::string_view::npos ? devpath.size() : slash;
    auto seg = devpath.substr(pos, end - pos);
    if (seg.empty() || seg == "." || seg == "..") {
      return false;
    }
    for (char c : seg) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return false;
      }
    }
    pos = end + 1;
  }
  return true;
}

std::vector<std::string> devpath_segments(std::string_view devpath) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < devpath.size()) {
    auto slash = devpath.find('/', pos);
    auto end = slash == std::string_view::npos ? devpath.size() : slash;
    if (end > pos) {
      out.emplace_back(devpath.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return out;
}

uevent_parse_result parse_uevent(const char* data, size_t size) {
  if (data == nullptr || size == 0) {
    return fail(uevent_errc::empty, "no bytes");
  }
  if (size > max_uevent_size) {
    return fail(uevent_errc::too_large, std::to_string(size) + " bytes, at most " +
                                            std::to_string(max_uevent_size) + " accepted");
  }
  if (size >= sizeof(libudev_prefix) &&
      std::memcmp(data, libudev_prefix, sizeof(libudev_prefix)) == 0) {
    return parse_libudev(data, size);
  }
  if (data[size - 1] != '\0') {
    return fail(uevent_errc::not_terminated, "the last byte is not a NUL");
  }
  std::string_view header{data, std::strlen(data)};
  auto at = header.find('@');
  if (at == std::string_view::npos) {
    return fail(uevent_errc::no_separator, "header '" + excerpt(header) + "' has no '@'");
  }
  uevent ev;
  auto action = header.substr(0, at);
  auto devpath = header.substr(at + 1);
  if (!valid_action(action)) {
    return fail(uevent_errc::bad_action, "action '" + excerpt(action) + "'");
  }
  if (!valid_devpath(devpath)) {
    return fail(uevent_errc::bad_devpath, "devpath '" + excerpt(devpath) + "'");
  }
  ev.action = action;
  ev.devpath = devpath;
  size_t body = header.size() + 1;
  return parse_entries(data + body, size - body, std::move(ev));
}

}  // namespace myelin::runtime
