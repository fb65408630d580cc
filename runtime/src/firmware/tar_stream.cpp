// The streaming tar reader and header writer of firmware files (see tar_stream.hpp).
#include "myelin/runtime/firmware/tar_stream.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace myelin::runtime {

namespace {

constexpr size_t block = 512;
constexpr uint64_t max_member_size = uint64_t{1} << 62;

// Offsets and lengths of the ustar header fields.
constexpr size_t name_at = 0, name_len = 100;
constexpr size_t mode_at = 100;
constexpr size_t uid_at = 108, gid_at = 116;
constexpr size_t size_at = 124, size_len = 12;
constexpr size_t mtime_at = 136;
constexpr size_t chksum_at = 148, chksum_len = 8;
constexpr size_t type_at = 156;
constexpr size_t link_at = 157, link_len = 100;
constexpr size_t magic_at = 257;
constexpr size_t prefix_at = 345, prefix_len = 155;

/// A NUL-terminated (or full-length) string field.
std::string_view field(const char* h, size_t at, size_t len) {
  const char* p = h + at;
  return {p, static_cast<size_t>(std::find(p, p + len, '\0') - p)};
}

/// An octal number field: leading spaces, digits, then NUL or spaces.
bool parse_octal(std::string_view f, uint64_t& out) {
  size_t i = 0;
  while (i < f.size() && f[i] == ' ') {
    ++i;
  }
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < f.size() && f[i] >= '0' && f[i] <= '7'; ++i, ++digits) {
    if (v > (max_member_size >> 3)) {
      return false;
    }
    v = v * 8 + static_cast<uint64_t>(f[i] - '0');
  }
  for (; i < f.size(); ++i) {
    if (f[i] != ' ' && f[i] != '\0') {
      return false;
    }
  }
  out = v;
  return digits > 0;
}

/// The size field: octal, or GNU/star base-256 (first byte 0x80) for large
/// sizes; negative base-256 numbers are refused.
bool parse_size(const char* h, uint64_t& out) {
  const auto* f = reinterpret_cast<const unsigned char*>(h + size_at);
  if ((f[0] & 0x80U) == 0) {
    return parse_octal({h + size_at, size_len}, out);
  }
  if (f[0] != 0x80) {
    return false;
  }
  uint64_t v = 0;
  for (size_t i = 1; i < size_len; ++i) {
    if (v > (max_member_size >> 8)) {
      return false;
    }
    v = (v << 8) | f[i];
  }
  out = v;
  return true;
}

/// Whether the stored checksum matches the header's bytes, summed unsigned
/// (POSIX) or signed (some historic writers) with the field as spaces.
bool checksum_ok(const char* h) {
  uint64_t stored = 0;
  if (!parse_octal({h + chksum_at, chksum_len}, stored)) {
    return false;
  }
  uint64_t unsigned_sum = 0;
  int64_t signed_sum = 0;
  for (size_t i = 0; i < block; ++i) {
    bool in_field = i >= chksum_at && i < chksum_at + chksum_len;
    auto c = in_field ? ' ' : h[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  return stored == unsigned_sum || static_cast<int64_t>(stored) == signed_sum;
}

bool all_zero(const char* h) {
  return std::all_of(h, h + block, [](char c) { return c == '\0'; });
}

bool parse_decimal(std::string_view s, uint64_t& out) {
  if (s.empty() || s.size() > 19) {
    return false;
  }
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  out = v;
  return true;
}

/// Shows a name from a hostile header printably and briefly.
std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 120)) {
    auto u = static_cast<unsigned char>(c);
    out += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > 120) {
    out += "...";
  }
  return out;
}

void put_octal(char* f, size_t len, uint64_t v) {
  // len - 1 digits, zero-padded, then NUL.
  f[len - 1] = '\0';
  for (size_t i = len - 1; i-- > 0;) {
    f[i] = static_cast<char>('0' + (v & 7U));
    v >>= 3;
  }
}

std::string ustar_block(std::string_view name, uint64_t size, char type) {
  std::string h(block, '\0');
  std::memcpy(h.data() + name_at, name.data(), std::min(name.size(), name_len));
  put_octal(h.data() + mode_at, 8, 0644);
  put_octal(h.data() + uid_at, 8, 0);
  put_octal(h.data() + gid_at, 8, 0);
  put_octal(h.data() + size_at, size_len, size);
  put_octal(h.data() + mtime_at, 12, 0);
  h[type_at] = type;
  std::memcpy(h.data() + magic_at,
              "ustar\0"
              "00",
              8);
  std::memset(h.data() + chksum_at, ' ', chksum_len);
  unsigned sum = 0;
  for (char c : h) {
    sum += static_cast<unsigned char>(c);
  }
  put_octal(h.data() + chksum_at, 7, sum);  // six digits, NUL, then the space
  return h;
}

/// One pax record "LEN key=value\n", LEN counting itself.
std::string pax_record(std::string_view key, std::string_view value) {
  auto body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  auto len = body + 1;
  while (std::to_string(len).size() + body != len) {
    ++len;
  }
  return std::to_string(len) + " " + std::string{key} + "=" + std::string{value} + "\n";
}

}  // namespace

// -- reading ------------------------------------------------------------------

tar_reader::tar_reader(source src) : source_{std::move(src)} {}

bool tar_reader::fill() {
  while (pos_ >= current_.data.size()) {
    if (eof_ || failed_) {
      return false;
    }
    current_ = chunk{};  // the last one is given back before the next is asked for
    pos_ = 0;
    if (!source_(current_)) {
      failed_ = true;
      current_ = chunk{};
      return false;
    }
    if (current_.data.empty()) {
      eof_ = true;
      return false;
    }
  }
  return true;
}

tar_status tar_reader::fail(tar_status status, std::string message) {
  message_ = std::move(message);
  return status;
}

tar_status tar_reader::read_exact(char* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (!fill()) {
      return failed_ ? tar_status::source_failed : tar_status::truncated;
    }
    auto take = std::min(n - got, current_.data.size() - pos_);
    std::memcpy(out + got, current_.data.data() + pos_, take);
    pos_ += take;
    got += take;
  }
  return tar_status::ok;
}

tar_status tar_reader::skip(uint64_t n) {
  while (n > 0) {
    if (!fill()) {
      return failed_ ? tar_status::source_failed : tar_status::truncated;
    }
    auto take = std::min<uint64_t>(n, current_.data.size() - pos_);
    pos_ += static_cast<size_t>(take);
    n -= take;
  }
  return tar_status::ok;
}

tar_status tar_reader::apply_pax(std::string_view records, tar_member& m, bool global) {
  while (!records.empty()) {
    auto space = records.find(' ');
    uint64_t len = 0;
    if (space == std::string_view::npos || !parse_decimal(records.substr(0, space), len) ||
        len <= space + 1 || len > records.size() || records[len - 1] != '\n') {
      return fail(tar_status::malformed, "a pax extended header has a malformed record");
    }
    auto record = records.substr(space + 1, len - space - 2);
    records.remove_prefix(len);
    auto eq = record.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return fail(tar_status::malformed, "a pax extended header has a record without a key");
    }
    auto key = record.substr(0, eq);
    auto value = record.substr(eq + 1);
    if (global) {
      continue;  // parsed for its shape only: nothing a firmware file needs
    }
    if (key == "path") {
      if (value.empty() || value.find('\0') != std::string_view::npos) {
        return fail(tar_status::malformed, "a pax extended header has an empty or binary path");
      }
      m.name = std::string{value};
    } else if (key == "size") {
      uint64_t size = 0;
      if (!parse_decimal(value, size) || size > max_member_size) {
        return fail(tar_status::malformed,
                    "a pax extended header has a bad size '" + printable(value) + "'");
      }
      m.size = size;
    } else if (key == "linkpath") {
      m.has_link = !value.empty();
    } else if (key.substr(0, 11) == "GNU.sparse.") {
      m.sparse = true;
    }
  }
  return tar_status::ok;
}

tar_status tar_reader::next(tar_member& out) {
  if (auto st = skip(remaining_ + padding_); st != tar_status::ok) {
    return st == tar_status::truncated ? fail(st, "the archive ends inside a member's data") : st;
  }
  remaining_ = 0;
  padding_ = 0;
  // What a pax 'x' header said about the member that follows it.
  tar_member pending;
  bool have_pax = false;
  uint64_t pax_size = 0;
  bool pax_has_size = false;
  while (true) {
    char h[block];
    if (!fill()) {
      if (failed_) {
        return tar_status::source_failed;
      }
      if (have_pax) {
        return fail(tar_status::truncated,
                    "the archive ends after a pax header, before its member");
      }
      return tar_status::end;  // the stream's end at a header boundary
    }
    if (auto st = read_exact(h, block); st != tar_status::ok) {
      return st == tar_status::truncated ? fail(st, "the archive ends inside a header") : st;
    }
    if (all_zero(h)) {
      if (have_pax) {
        return fail(tar_status::malformed, "a pax header is followed by the end of the archive");
      }
      return tar_status::end;
    }
    if (std::memcmp(h + magic_at, "ustar", 5) != 0) {
      return fail(tar_status::malformed, "not a ustar or pax tar archive (no ustar magic)");
    }
    if (!checksum_ok(h)) {
      return fail(tar_status::malformed, "a header's checksum does not match (damaged archive)");
    }
    uint64_t size = 0;
    if (!parse_size(h, size) || size > max_member_size) {
      return fail(tar_status::malformed, "a header has an unreadable size");
    }
    char type = h[type_at];
    if (type == 'L' || type == 'K') {
      // GNU tar's long name (or link target) for the member that follows.
      if (size > max_pax_header) {
        return fail(tar_status::malformed,
                    "a GNU long name is larger than " + std::to_string(max_pax_header) + " bytes");
      }
      std::string value(static_cast<size_t>(size), '\0');
      if (auto st = read_exact(value.data(), value.size()); st != tar_status::ok) {
        return st == tar_status::truncated ? fail(st, "the archive ends inside a GNU long name")
                                           : st;
      }
      if (auto st = skip(tar_padding(size)); st != tar_status::ok) {
        return st == tar_status::truncated ? fail(st, "the archive ends inside a GNU long name")
                                           : st;
      }
      value.resize(std::strlen(value.c_str()));
      have_pax = true;
      if (type == 'L') {
        if (value.empty()) {
          return fail(tar_status::malformed, "a GNU long name is empty");
        }
        pending.name = value;
      } else {
        pending.has_link = pending.has_link || !value.empty();
      }
      continue;
    }
    if (type == 'x' || type == 'g') {
      if (size > max_pax_header) {
        return fail(tar_status::malformed, "a pax extended header is larger than " +
                                               std::to_string(max_pax_header) + " bytes");
      }
      std::string records(static_cast<size_t>(size), '\0');
      if (auto st = read_exact(records.data(), records.size()); st != tar_status::ok) {
        return st == tar_status::truncated ? fail(st, "the archive ends inside a pax header") : st;
      }
      if (auto st = skip(tar_padding(size)); st != tar_status::ok) {
        return st == tar_status::truncated ? fail(st, "the archive ends inside a pax header") : st;
      }
      if (type == 'g') {
        tar_member ignored;
        if (auto st = apply_pax(records, ignored, true); st != tar_status::ok) {
          return st;
        }
        continue;
      }
      tar_member m;
      m.size = UINT64_MAX;  // marks "no size record"
      if (auto st = apply_pax(records, m, false); st != tar_status::ok) {
        return st;
      }
      have_pax = true;
      if (!m.name.empty()) {
        pending.name = m.name;
      }
      if (m.size != UINT64_MAX) {
        pax_size = m.size;
        pax_has_size = true;
      }
      pending.has_link = pending.has_link || m.has_link;
      pending.sparse = pending.sparse || m.sparse;
      continue;
    }
    tar_member m;
    auto name = field(h, name_at, name_len);
    auto prefix = field(h, prefix_at, prefix_len);
    m.name = prefix.empty() ? std::string{name} : std::string{prefix} + "/" + std::string{name};
    if (have_pax && !pending.name.empty()) {
      m.name = pending.name;
    }
    m.type = (type == '\0' || type == '7') ? '0' : type;
    m.size = pax_has_size ? pax_size : size;
    m.has_link = !field(h, link_at, link_len).empty() || pending.has_link;
    m.sparse = pending.sparse || type == 'S';
    // Links, directories and devices have no data in the archive, whatever
    // their size field says; everything else is followed by its bytes.
    bool has_data = m.type != '1' && m.type != '2' && m.type != '3' && m.type != '4' &&
                    m.type != '5' && m.type != '6';
    remaining_ = has_data ? m.size : 0;
    padding_ = tar_padding(remaining_);
    out = std::move(m);
    return tar_status::ok;
  }
}

tar_status tar_reader::data(std::string_view& piece, const std::shared_ptr<const void>*& keep) {
  piece = {};
  keep = nullptr;
  if (remaining_ == 0) {
    return tar_status::end;
  }
  if (!fill()) {
    return failed_ ? tar_status::source_failed
                   : fail(tar_status::truncated, "the archive ends inside a member's data");
  }
  auto take = static_cast<size_t>(std::min<uint64_t>(remaining_, current_.data.size() - pos_));
  piece = current_.data.substr(pos_, take);
  keep = current_.keep ? &current_.keep : nullptr;
  pos_ += take;
  remaining_ -= take;
  return tar_status::ok;
}

// -- writing ------------------------------------------------------------------

std::string tar_file_header(std::string_view name, uint64_t size) {
  constexpr uint64_t ustar_max_size = 077777777777ULL;
  std::string out;
  if (name.size() > name_len || size > ustar_max_size) {
    std::string records;
    if (name.size() > name_len) {
      records += pax_record("path", name);
    }
    if (size > ustar_max_size) {
      records += pax_record("size", std::to_string(size));
    }
    auto pax_name = "PaxHeader/" + std::string{name.substr(0, name_len - 10)};
    out += ustar_block(pax_name, records.size(), 'x');
    out += records;
    out.append(tar_padding(records.size()), '\0');
  }
  out += ustar_block(name, size > ustar_max_size ? 0 : size, '0');
  return out;
}

size_t tar_padding(uint64_t size) {
  return static_cast<size_t>((block - size % block) % block);
}

std::string tar_end() {
  return std::string(2 * block, '\0');
}

}  // namespace myelin::runtime
