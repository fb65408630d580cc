// DNS wire format (see dns_message.hpp).
#include "myelin/runtime/mdns/dns_message.hpp"

#include <cstring>
#include <map>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime::dns {

std::string to_string(dns_errc x) {
  switch (x) {
    case dns_errc::truncated:
      return "truncated";
    case dns_errc::bad_name:
      return "bad_name";
    case dns_errc::bad_pointer:
      return "bad_pointer";
    case dns_errc::oversized:
      return "oversized";
    case dns_errc::bad_rdata:
      return "bad_rdata";
  }
  return "dns_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(dns_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("dns"),
                    caf::make_message(std::move(context))};
}

namespace {

constexpr size_t max_name_bytes = 255;
constexpr size_t max_label_bytes = 63;
/// More jumps than a 255-byte name can need: a chain of pointers.
constexpr int max_jumps = 128;

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

class reader {
 public:
  reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  size_t pos() const { return pos_; }
  size_t left() const { return size_ - pos_; }

  bool u8(uint8_t& out) {
    if (left() < 1) {
      return false;
    }
    out = data_[pos_++];
    return true;
  }
  bool u16(uint16_t& out) {
    if (left() < 2) {
      return false;
    }
    out = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }
  bool u32(uint32_t& out) {
    uint16_t hi = 0;
    uint16_t lo = 0;
    if (!u16(hi) || !u16(lo)) {
      return false;
    }
    out = (uint32_t{hi} << 16) | lo;
    return true;
  }
  bool skip(size_t n) {
    if (left() < n) {
      return false;
    }
    pos_ += n;
    return true;
  }

  /// Reads a (possibly compressed) name at the current position.
  caf::error name(std::string& out, const char* where) {
    out.clear();
    size_t at = pos_;
    size_t wire_bytes = 1;  // the root label
    bool jumped = false;
    int jumps = 0;
    // Every pointer must point before the label it is found in: so the walk
    // always moves backwards and ends.
    size_t limit = pos_;
    for (;;) {
      if (at >= size_) {
        return make_error(dns_errc::truncated,
                          std::string{"a name in "} + where + " runs past the end of the packet");
      }
      uint8_t len = data_[at];
      if ((len & 0xc0) == 0xc0) {
        if (at + 1 >= size_) {
          return make_error(dns_errc::truncated,
                            std::string{"a compression pointer in "} + where + " is cut");
        }
        size_t target = (size_t{len & 0x3fu} << 8) | data_[at + 1];
        if (target >= limit || target >= at || ++jumps > max_jumps) {
          return make_error(dns_errc::bad_pointer, std::string{"a compression pointer in "} +
                                                       where + " at byte " + std::to_string(at) +
                                                       " does not point backwards (to " +
                                                       std::to_string(target) + ")");
        }
        if (!jumped) {
          pos_ = at + 2;
          jumped = true;
        }
        limit = target;
        at = target;
        continue;
      }
      if ((len & 0xc0) != 0) {
        return make_error(dns_errc::bad_name, std::string{"a reserved label type in "} + where +
                                                  " at byte " + std::to_string(at));
      }
      if (len == 0) {
        if (!jumped) {
          pos_ = at + 1;
        }
        return {};
      }
      if (at + 1 + len > size_) {
        return make_error(dns_errc::truncated,
                          std::string{"a label in "} + where + " runs past the end of the packet");
      }
      wire_bytes += 1 + len;
      if (wire_bytes > max_name_bytes) {
        return make_error(dns_errc::bad_name,
                          std::string{"a name in "} + where + " is longer than 255 bytes");
      }
      if (!out.empty()) {
        out += '.';
      }
      out += escape_label(
          std::string_view{reinterpret_cast<const char*>(data_ + at + 1), size_t{len}});
      at += 1 + len;
    }
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

caf::error read_record(reader& r, record& rec, const char* where) {
  if (auto err = r.name(rec.name, where)) {
    return err;
  }
  uint16_t klass = 0;
  uint16_t rdlength = 0;
  if (!r.u16(rec.type) || !r.u16(klass) || !r.u32(rec.ttl) || !r.u16(rdlength)) {
    return make_error(dns_errc::truncated, std::string{"a record in "} + where + " is cut");
  }
  rec.cache_flush = (klass & 0x8000) != 0;
  rec.klass = klass & 0x7fff;
  if (r.left() < rdlength) {
    return make_error(dns_errc::truncated, std::string{"the data of a record in "} + where +
                                               " runs past the end of the packet");
  }
  size_t end = r.pos() + rdlength;
  auto bad = [&](const char* what) {
    return make_error(dns_errc::bad_rdata, std::string{"a "} + what + " record in " + where +
                                               " has " + std::to_string(rdlength) +
                                               " bytes of data that do not fit it");
  };
  switch (rec.type) {
    case rr::a:
    case rr::aaaa: {
      auto* dst = rec.type == rr::a ? rec.ipv4.data() : rec.ipv6.data();
      size_t want = rec.type == rr::a ? 4 : 16;
      if (rdlength != want) {
        return bad(rec.type == rr::a ? "A" : "AAAA");
      }
      for (size_t i = 0; i < want; ++i) {
        r.u8(dst[i]);
      }
      return {};
    }
    case rr::ptr: {
      if (auto err = r.name(rec.target, where)) {
        return err;
      }
      return r.pos() == end ? caf::error{} : bad("PTR");
    }
    case rr::srv: {
      if (rdlength < 7 || !r.u16(rec.priority) || !r.u16(rec.weight) || !r.u16(rec.port)) {
        return bad("SRV");
      }
      if (auto err = r.name(rec.target, where)) {
        return err;
      }
      return r.pos() == end ? caf::error{} : bad("SRV");
    }
    case rr::txt: {
      while (r.pos() < end) {
        uint8_t len = 0;
        r.u8(len);
        if (r.pos() + len > end) {
          return bad("TXT");
        }
        std::string s(len, '\0');
        for (auto& c : s) {
          uint8_t b = 0;
          r.u8(b);
          c = static_cast<char>(b);
        }
        // RFC 6763 §6.1: an empty TXT record is one empty string.
        if (!s.empty()) {
          rec.txt.push_back(std::move(s));
        }
      }
      return {};
    }
    default: {
      rec.raw.resize(rdlength);
      for (auto& b : rec.raw) {
        r.u8(b);
      }
      return {};
    }
  }
}

class writer {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) {
    out_.push_back(static_cast<uint8_t>(v >> 8));
    out_.push_back(static_cast<uint8_t>(v & 0xff));
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v & 0xffff));
  }
  size_t size() const { return out_.size(); }
  void patch16(size_t at, uint16_t v) {
    out_[at] = static_cast<uint8_t>(v >> 8);
    out_[at + 1] = static_cast<uint8_t>(v & 0xff);
  }

  caf::error name(std::string_view dotted) {
    auto labels = split_name(dotted);
    if (!labels) {
      return labels.error();
    }
    for (size_t i = 0; i < labels->size(); ++i) {
      // The suffix from label i, lower-cased: the key of the compression map.
      std::string key;
      for (size_t j = i; j < labels->size(); ++j) {
        for (char c : (*labels)[j]) {
          key += lower(c);
        }
        key += '\0';
      }
      if (auto it = seen_.find(key); it != seen_.end()) {
        u16(static_cast<uint16_t>(0xc000 | it->second));
        return {};
      }
      if (out_.size() < 0x4000) {
        seen_.emplace(std::move(key), static_cast<uint16_t>(out_.size()));
      }
      const auto& label = (*labels)[i];
      u8(static_cast<uint8_t>(label.size()));
      out_.insert(out_.end(), label.begin(), label.end());
    }
    u8(0);
    return {};
  }

  std::vector<uint8_t> take() { return std::move(out_); }

 private:
  std::vector<uint8_t> out_;
  std::map<std::string, uint16_t> seen_;
};

caf::error write_record(writer& w, const record& rec) {
  if (auto err = w.name(rec.name)) {
    return err;
  }
  w.u16(rec.type);
  w.u16(static_cast<uint16_t>((rec.klass & 0x7fff) | (rec.cache_flush ? 0x8000 : 0)));
  w.u32(rec.ttl);
  auto length_at = w.size();
  w.u16(0);
  auto start = w.size();
  switch (rec.type) {
    case rr::a:
      for (auto b : rec.ipv4) {
        w.u8(b);
      }
      break;
    case rr::aaaa:
      for (auto b : rec.ipv6) {
        w.u8(b);
      }
      break;
    case rr::ptr:
      if (auto err = w.name(rec.target)) {
        return err;
      }
      break;
    case rr::srv:
      w.u16(rec.priority);
      w.u16(rec.weight);
      w.u16(rec.port);
      if (auto err = w.name(rec.target)) {
        return err;
      }
      break;
    case rr::txt:
      if (rec.txt.empty()) {
        w.u8(0);
      }
      for (const auto& s : rec.txt) {
        if (s.size() > 255) {
          return make_error(dns_errc::bad_rdata,
                            "a TXT string of " + std::to_string(s.size()) + " bytes (at most 255)");
        }
        w.u8(static_cast<uint8_t>(s.size()));
        for (char c : s) {
          w.u8(static_cast<uint8_t>(c));
        }
      }
      break;
    default:
      for (auto b : rec.raw) {
        w.u8(b);
      }
      break;
  }
  auto length = w.size() - start;
  if (length > 0xffff) {
    return make_error(dns_errc::oversized, "a record's data is over 65535 bytes");
  }
  w.patch16(length_at, static_cast<uint16_t>(length));
  return {};
}

}  // namespace

std::string escape_label(std::string_view label) {
  std::string out;
  out.reserve(label.size());
  for (char c : label) {
    if (c == '.' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

caf::expected<std::vector<std::string>> split_name(std::string_view name) {
  std::vector<std::string> labels;
  if (name.empty() || name == ".") {
    return labels;
  }
  std::string cur;
  size_t wire = 1;
  auto finish = [&]() -> caf::error {
    if (cur.empty()) {
      return make_error(dns_errc::bad_name,
                        "the name '" + std::string{name} + "' has an empty label");
    }
    if (cur.size() > max_label_bytes) {
      return make_error(dns_errc::bad_name,
                        "the name '" + std::string{name} + "' has a label over 63 bytes");
    }
    wire += 1 + cur.size();
    labels.push_back(std::move(cur));
    cur.clear();
    return {};
  };
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '\\' && i + 1 < name.size()) {
      cur += name[++i];
    } else if (c == '.') {
      if (i + 1 == name.size()) {
        break;  // a trailing dot: the root
      }
      if (auto err = finish()) {
        return err;
      }
    } else {
      cur += c;
    }
  }
  if (auto err = finish()) {
    return err;
  }
  if (wire > max_name_bytes) {
    return make_error(dns_errc::bad_name,
                      "the name '" + std::string{name} + "' is longer than 255 bytes");
  }
  return labels;
}

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) {
      return false;
    }
  }
  return true;
}

std::string format_ipv4(const std::array<uint8_t, 4>& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

caf::expected<message> parse(const uint8_t* data, size_t size) {
  if (size > max_message_bytes) {
    return make_error(dns_errc::oversized, "a packet of " + std::to_string(size) +
                                               " bytes (at most " +
                                               std::to_string(max_message_bytes) + ")");
  }
  reader r{data, size};
  message m;
  uint16_t counts[4] = {};
  if (!r.u16(m.id) || !r.u16(m.flags) || !r.u16(counts[0]) || !r.u16(counts[1]) ||
      !r.u16(counts[2]) || !r.u16(counts[3])) {
    return make_error(dns_errc::truncated,
                      "a packet of " + std::to_string(size) + " bytes has no complete header");
  }
  size_t total = size_t{counts[0]} + counts[1] + counts[2] + counts[3];
  if (total > max_records) {
    return make_error(dns_errc::oversized, "a packet announcing " + std::to_string(total) +
                                               " questions and records (at most " +
                                               std::to_string(max_records) + ")");
  }
  for (uint16_t i = 0; i < counts[0]; ++i) {
    question q;
    if (auto err = r.name(q.name, "the questions")) {
      return err;
    }
    uint16_t klass = 0;
    if (!r.u16(q.type) || !r.u16(klass)) {
      return make_error(dns_errc::truncated, "a question is cut");
    }
    q.unicast_response = (klass & 0x8000) != 0;
    q.klass = klass & 0x7fff;
    m.questions.push_back(std::move(q));
  }
  std::vector<record>* sections[3] = {&m.answers, &m.authorities, &m.additionals};
  const char* names[3] = {"the answers", "the authorities", "the additional records"};
  for (int s = 0; s < 3; ++s) {
    for (uint16_t i = 0; i < counts[s + 1]; ++i) {
      record rec;
      if (auto err = read_record(r, rec, names[s])) {
        return err;
      }
      sections[s]->push_back(std::move(rec));
    }
  }
  return m;
}

caf::expected<std::vector<uint8_t>> serialize(const message& m) {
  writer w;
  w.u16(m.id);
  w.u16(m.flags);
  w.u16(static_cast<uint16_t>(m.questions.size()));
  w.u16(static_cast<uint16_t>(m.answers.size()));
  w.u16(static_cast<uint16_t>(m.authorities.size()));
  w.u16(static_cast<uint16_t>(m.additionals.size()));
  if (m.questions.size() + m.answers.size() + m.authorities.size() + m.additionals.size() >
      max_records) {
    return make_error(dns_errc::oversized,
                      "more than " + std::to_string(max_records) + " questions and records");
  }
  for (const auto& q : m.questions) {
    if (auto err = w.name(q.name)) {
      return err;
    }
    w.u16(q.type);
    w.u16(static_cast<uint16_t>((q.klass & 0x7fff) | (q.unicast_response ? 0x8000 : 0)));
  }
  for (const auto* section : {&m.answers, &m.authorities, &m.additionals}) {
    for (const auto& rec : *section) {
      if (auto err = write_record(w, rec)) {
        return err;
      }
    }
  }
  if (w.size() > max_message_bytes) {
    return make_error(dns_errc::oversized, "a message of " + std::to_string(w.size()) +
                                               " bytes (at most " +
                                               std::to_string(max_message_bytes) + ")");
  }
  return w.take();
}

}  // namespace myelin::runtime::dns
