// Tests of runtime/mdns/dns_message: the wire format, against packets written
// byte by byte from RFC 1035/6762, and hostile packets that must be refused.
#include "myelin/runtime/mdns/dns_message.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "myelin/runtime/config/config.hpp"

namespace dns = myelin::runtime::dns;
using bytes = std::vector<uint8_t>;

namespace {

void put_name(bytes& b, std::initializer_list<std::string> labels) {
  for (const auto& l : labels) {
    b.push_back(static_cast<uint8_t>(l.size()));
    b.insert(b.end(), l.begin(), l.end());
  }
  b.push_back(0);
}

bytes header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar) {
  bytes b;
  for (uint16_t v : {id, flags, qd, an, ns, ar}) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v & 0xff));
  }
  return b;
}

dns::dns_errc code_of(const caf::expected<dns::message>& m) {
  return static_cast<dns::dns_errc>(m.error().code());
}

}  // namespace

// A query as avahi or dns-sd sends it: one PTR question for _myelin._tcp.local
// with the unicast-response bit.
TEST(dns_message, parses_a_handwritten_query) {
  auto b = header(0, 0, 1, 0, 0, 0);
  put_name(b, {"_myelin", "_tcp", "local"});
  b.insert(b.end(), {0x00, 0x0c, 0x80, 0x01});
  auto m = dns::parse(b.data(), b.size());
  ASSERT_TRUE(m) << myelin::runtime::describe(m.error());
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, "_myelin._tcp.local");
  EXPECT_EQ(m->questions[0].type, dns::rr::ptr);
  EXPECT_TRUE(m->questions[0].unicast_response);
  EXPECT_EQ(m->questions[0].klass, dns::class_in);
  EXPECT_FALSE(m->is_response());
}

// Every record type we write comes back the same, names compressed.
TEST(dns_message, round_trips_every_record_type) {
  dns::message m;
  m.id = 0x1234;
  m.flags = dns::flag_response | dns::flag_authoritative;
  dns::record a;
  a.name = "dev.local";
  a.type = dns::rr::a;
  a.cache_flush = true;
  a.ttl = 120;
  a.ipv4 = {10, 0, 0, 2};
  dns::record ptr;
  ptr.name = "_myelin._tcp.local";
  ptr.type = dns::rr::ptr;
  ptr.ttl = 4500;
  ptr.target = "My\\.Device._myelin._tcp.local";
  dns::record srv;
  srv.name = ptr.target;
  srv.type = dns::rr::srv;
  srv.ttl = 120;
  srv.port = 4848;
  srv.priority = 1;
  srv.weight = 2;
  srv.target = "dev.local";
  dns::record txt;
  txt.name = ptr.target;
  txt.type = dns::rr::txt;
  txt.txt = {"serial=ABC", "version=1.2.3"};
  dns::record other;
  other.name = "dev.local";
  other.type = dns::rr::nsec;
  other.raw = {0xc0, 0x0c, 0x00, 0x01, 0x40};
  m.answers = {a, ptr, srv};
  m.additionals = {txt, other};
  auto wire = dns::serialize(m);
  ASSERT_TRUE(wire);
  // "local" is written once, then pointed at.
  std::string text(wire->begin(), wire->end());
  EXPECT_EQ(text.find("local"), text.rfind("local"));
  auto back = dns::parse(wire->data(), wire->size());
  ASSERT_TRUE(back) << myelin::runtime::describe(back.error());
  EXPECT_EQ(back->id, 0x1234);
  EXPECT_TRUE(back->is_response());
  ASSERT_EQ(back->answers.size(), 3u);
  ASSERT_EQ(back->additionals.size(), 2u);
  EXPECT_EQ(back->answers[0].ipv4, a.ipv4);
  EXPECT_TRUE(back->answers[0].cache_flush);
  EXPECT_EQ(back->answers[0].ttl, 120u);
  EXPECT_EQ(back->answers[1].target, ptr.target);
  EXPECT_FALSE(back->answers[1].cache_flush);
  EXPECT_EQ(back->answers[2].port, 4848);
  EXPECT_EQ(back->answers[2].priority, 1);
  EXPECT_EQ(back->answers[2].weight, 2);
  EXPECT_EQ(back->answers[2].target, "dev.local");
  EXPECT_EQ(back->additionals[0].txt, txt.txt);
  EXPECT_EQ(back->additionals[1].raw, other.raw);
  // The escaped dot is one label.
  auto labels = dns::split_name(ptr.target);
  ASSERT_TRUE(labels);
  EXPECT_EQ(labels->front(), "My.Device");
}

TEST(dns_message, names_compare_without_case) {
  EXPECT_TRUE(dns::same_name("Dev.LOCAL", "dev.local"));
  EXPECT_FALSE(dns::same_name("dev.local", "dev.locals"));
  EXPECT_FALSE(dns::same_name("dev-a.local", "dev_a.local"));
}

// Truncated at every byte: refused, never read past the end.
TEST(dns_message, every_truncation_is_refused) {
  dns::message m;
  m.flags = dns::flag_response;
  dns::record srv;
  srv.name = "x._myelin._tcp.local";
  srv.type = dns::rr::srv;
  srv.port = 1;
  srv.target = "x.local";
  m.answers = {srv};
  auto wire = dns::serialize(m);
  ASSERT_TRUE(wire);
  for (size_t n = 0; n < wire->size(); ++n) {
    bytes cut(wire->begin(), wire->begin() + static_cast<long>(n));
    auto p = dns::parse(cut.data(), cut.size());
    EXPECT_FALSE(p) << "cut at " << n;
  }
}

// Compression pointers that loop, point forwards or at themselves.
TEST(dns_message, refuses_pointer_loops_and_forward_pointers) {
  {
    auto b = header(0, 0, 1, 0, 0, 0);
    b.insert(b.end(), {0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01});  // points at itself
    auto m = dns::parse(b.data(), b.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::bad_pointer);
  }
  {
    auto b = header(0, 0, 1, 0, 0, 0);
    b.insert(b.end(), {0xc0, 0x20, 0x00, 0x01, 0x00, 0x01});  // forwards
    auto m = dns::parse(b.data(), b.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::bad_pointer);
  }
  {
    // Two names pointing at each other: the second at the first, the first
    // (patched) at the second.
    auto b = header(0, 0, 2, 0, 0, 0);
    b.insert(b.end(), {0x01, 'a', 0xc0, 0x12, 0x00, 0x01, 0x00, 0x01});  // at 12: a -> 18
    b.insert(b.end(), {0x01, 'b', 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01});  // at 20: b -> 12
    auto m = dns::parse(b.data(), b.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::bad_pointer);
  }
}

TEST(dns_message, refuses_oversized_names_labels_and_counts) {
  {
    // 300 bytes of name in 5-byte labels, no compression.
    auto b = header(0, 0, 1, 0, 0, 0);
    for (int i = 0; i < 60; ++i) {
      b.insert(b.end(), {0x04, 'a', 'b', 'c', 'd'});
    }
    b.insert(b.end(), {0x00, 0x00, 0x01, 0x00, 0x01});
    auto m = dns::parse(b.data(), b.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::bad_name);
  }
  {
    auto b = header(0, 0, 1, 0, 0, 0);
    b.push_back(0x40);  // label type 01: reserved
    b.insert(b.end(), 64, 'a');
    auto m = dns::parse(b.data(), b.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::bad_name);
  }
  {
    auto b = header(0, 0, 0xffff, 0xffff, 0, 0);
    auto m = dns::parse(b.data(), b.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::oversized);
  }
  {
    bytes big(dns::max_message_bytes + 1, 0);
    auto m = dns::parse(big.data(), big.size());
    ASSERT_FALSE(m);
    EXPECT_EQ(code_of(m), dns::dns_errc::oversized);
  }
  // Writing refuses what cannot be written.
  EXPECT_FALSE(dns::split_name(std::string(64, 'a') + ".local"));
  EXPECT_FALSE(dns::split_name("a..local"));
  dns::message m;
  dns::record txt;
  txt.name = "x.local";
  txt.type = dns::rr::txt;
  txt.txt = {std::string(256, 'x')};
  m.answers = {txt};
  EXPECT_FALSE(dns::serialize(m));
}

// Record data that does not fit its type.
TEST(dns_message, refuses_bad_rdata) {
  auto rec = [](uint16_t type, bytes rdata) {
    auto b = header(0, dns::flag_response, 0, 1, 0, 0);
    put_name(b, {"x", "local"});
    b.insert(b.end(), {static_cast<uint8_t>(type >> 8), static_cast<uint8_t>(type & 0xff), 0x00,
                       0x01, 0, 0, 0, 120, 0, static_cast<uint8_t>(rdata.size())});
    b.insert(b.end(), rdata.begin(), rdata.end());
    return dns::parse(b.data(), b.size());
  };
  EXPECT_EQ(code_of(rec(dns::rr::a, {1, 2, 3})), dns::dns_errc::bad_rdata);
  EXPECT_EQ(code_of(rec(dns::rr::aaaa, {1, 2, 3, 4})), dns::dns_errc::bad_rdata);
  EXPECT_EQ(code_of(rec(dns::rr::srv, {0, 0, 0})), dns::dns_errc::bad_rdata);
  EXPECT_EQ(code_of(rec(dns::rr::txt, {5, 'a', 'b'})), dns::dns_errc::bad_rdata);
  // A PTR whose name ends before its data does.
  EXPECT_EQ(code_of(rec(dns::rr::ptr, {1, 'a', 0, 9})), dns::dns_errc::bad_rdata);
  // A length past the packet.
  auto b = header(0, dns::flag_response, 0, 1, 0, 0);
  put_name(b, {"x", "local"});
  b.insert(b.end(), {0x00, 0x01, 0x00, 0x01, 0, 0, 0, 120, 0x10, 0x00, 1, 2, 3, 4});
  auto m = dns::parse(b.data(), b.size());
  ASSERT_FALSE(m);
  EXPECT_EQ(code_of(m), dns::dns_errc::truncated);
  EXPECT_TRUE(rec(dns::rr::a, {1, 2, 3, 4}));
}
