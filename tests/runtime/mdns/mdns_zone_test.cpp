// Tests of runtime/mdns/mdns_zone: what the device announces and answers.
#include "myelin/runtime/mdns/mdns_zone.hpp"

#include <gtest/gtest.h>

namespace dns = myelin::runtime::dns;
namespace mdns = myelin::runtime::mdns;

namespace {

mdns::mdns_zone zone() {
  mdns::mdns_zone z;
  z.host = "dev";
  z.instance = "dev";
  mdns::mdns_service s;
  s.type = mdns::myelin_service;
  s.port = 4848;
  s.txt = {"serial=ABC", "version=1.0.0"};
  z.services.push_back(s);
  return z;
}

const std::vector<mdns::ipv4_address> addrs{{10, 0, 0, 2}};

dns::message query(std::string name, uint16_t type, bool qu = false) {
  dns::message q;
  q.id = 77;
  dns::question question;
  question.name = std::move(name);
  question.type = type;
  question.unicast_response = qu;
  q.questions.push_back(question);
  return q;
}

const dns::record* find(const std::vector<dns::record>& rs, uint16_t type) {
  for (const auto& r : rs) {
    if (r.type == type) {
      return &r;
    }
  }
  return nullptr;
}

}  // namespace

TEST(mdns_zone, host_label_is_a_valid_label) {
  EXPECT_EQ(mdns::host_label("myelin-HOST_0001"), "myelin-HOST-0001");
  EXPECT_EQ(mdns::host_label(""), "myelin");
  EXPECT_EQ(mdns::host_label(std::string(100, 'a')).size(), 63u);
}

// A browse (PTR) gets the PTR and, as additional records, the SRV, TXT and
// address: one round trip resolves the device.
TEST(mdns_zone, browse_answer_carries_srv_txt_and_address) {
  auto r = mdns::answer_query(zone(), addrs, query(mdns::myelin_service, dns::rr::ptr), false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->route, mdns::reply_route::multicast);
  ASSERT_EQ(r->message.answers.size(), 1u);
  EXPECT_EQ(r->message.answers[0].target, "dev._myelin._tcp.local");
  EXPECT_FALSE(r->message.answers[0].cache_flush);
  const auto* srv = find(r->message.additionals, dns::rr::srv);
  ASSERT_NE(srv, nullptr);
  EXPECT_EQ(srv->port, 4848);
  EXPECT_EQ(srv->target, "dev.local");
  EXPECT_TRUE(srv->cache_flush);
  ASSERT_NE(find(r->message.additionals, dns::rr::txt), nullptr);
  const auto* a = find(r->message.additionals, dns::rr::a);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->ipv4, addrs[0]);
  EXPECT_EQ(r->message.id, 0);  // multicast answers carry id 0
  EXPECT_TRUE(r->message.questions.empty());
}

// RFC 6762 §6.7: a one-shot asker gets its id and questions back, short
// TTLs and no cache-flush bit, unicast.
TEST(mdns_zone, legacy_unicast_answer) {
  auto r = mdns::answer_query(zone(), addrs, query("DEV.local", dns::rr::a), true);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->route, mdns::reply_route::unicast);
  EXPECT_EQ(r->message.id, 77);
  ASSERT_EQ(r->message.questions.size(), 1u);
  ASSERT_EQ(r->message.answers.size(), 1u);
  EXPECT_EQ(r->message.answers[0].ttl, mdns::legacy_ttl);
  EXPECT_FALSE(r->message.answers[0].cache_flush);
}

TEST(mdns_zone, qu_question_is_answered_unicast) {
  auto r = mdns::answer_query(zone(), addrs, query("dev.local", dns::rr::a, true), false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->route, mdns::reply_route::unicast);
}

TEST(mdns_zone, other_names_and_responses_get_nothing) {
  EXPECT_FALSE(mdns::answer_query(zone(), addrs, query("other.local", dns::rr::a), false));
  EXPECT_FALSE(mdns::answer_query(zone(), addrs, query("dev.local", dns::rr::aaaa), false));
  auto resp = query("dev.local", dns::rr::a);
  resp.flags = dns::flag_response;
  EXPECT_FALSE(mdns::answer_query(zone(), addrs, resp, false));
  // No address on the interface: no A record to give.
  EXPECT_FALSE(mdns::answer_query(zone(), {}, query("dev.local", dns::rr::a), false));
  // ANY gets everything of the name.
  auto any =
      mdns::answer_query(zone(), addrs, query("dev._myelin._tcp.local", dns::rr::any), false);
  ASSERT_TRUE(any);
  EXPECT_EQ(any->message.answers.size(), 2u);  // SRV and TXT
}

// RFC 6762 §7.1: what the asker lists with at least half our TTL is not
// sent again; with less, it is.
TEST(mdns_zone, known_answers_are_suppressed) {
  auto q = query(mdns::myelin_service, dns::rr::ptr);
  dns::record known;
  known.name = mdns::myelin_service;
  known.type = dns::rr::ptr;
  known.target = "dev._myelin._tcp.local";
  known.ttl = 4000;
  q.answers.push_back(known);
  EXPECT_FALSE(mdns::answer_query(zone(), addrs, q, false));
  q.answers[0].ttl = 100;
  EXPECT_TRUE(mdns::answer_query(zone(), addrs, q, false));
}

TEST(mdns_zone, announcement_and_goodbye) {
  auto m = mdns::announcement(zone(), addrs);
  EXPECT_TRUE(m.is_response());
  EXPECT_EQ(m.answers.size(), 5u);  // A, PTR, SRV, TXT, services PTR
  for (const auto& r : m.answers) {
    EXPECT_GT(r.ttl, 0u);
  }
  auto bye = mdns::announcement(zone(), addrs, true);
  for (const auto& r : bye.answers) {
    EXPECT_EQ(r.ttl, 0u);
  }
  EXPECT_TRUE(dns::serialize(m));
}

TEST(mdns_zone, conflict_is_another_address_for_our_name) {
  dns::message resp;
  resp.flags = dns::flag_response;
  dns::record a;
  a.name = "dev.local";
  a.type = dns::rr::a;
  a.ttl = 120;
  a.ipv4 = {10, 0, 0, 2};
  resp.answers.push_back(a);
  EXPECT_FALSE(mdns::conflicting_address(zone(), addrs, resp));
  resp.answers[0].ipv4 = {10, 0, 0, 9};
  auto other = mdns::conflicting_address(zone(), addrs, resp);
  ASSERT_TRUE(other);
  EXPECT_EQ(dns::format_ipv4(*other), "10.0.0.9");
  resp.answers[0].ttl = 0;  // a goodbye is no claim
  EXPECT_FALSE(mdns::conflicting_address(zone(), addrs, resp));
}
