// The device's multicast DNS records and answers (see mdns_zone.hpp).
#include "myelin/runtime/mdns/mdns_zone.hpp"

#include <algorithm>

namespace myelin::runtime::mdns {

namespace {

bool is_unique(const dns::record& r) {
  return r.type != dns::rr::ptr;
}

bool same_record(const dns::record& a, const dns::record& b) {
  if (a.type != b.type || !dns::same_name(a.name, b.name)) {
    return false;
  }
  switch (a.type) {
    case dns::rr::a:
      return a.ipv4 == b.ipv4;
    case dns::rr::ptr:
      return dns::same_name(a.target, b.target);
    case dns::rr::srv:
      return a.port == b.port && a.priority == b.priority && a.weight == b.weight &&
             dns::same_name(a.target, b.target);
    case dns::rr::txt:
      return a.txt == b.txt;
    default:
      return a.raw == b.raw;
  }
}

bool matches(const dns::question& q, const dns::record& r) {
  return (q.type == r.type || q.type == dns::rr::any) &&
         (q.klass == dns::class_in || q.klass == dns::rr::any) && dns::same_name(q.name, r.name);
}

void add_unique(std::vector<dns::record>& to, const dns::record& r) {
  for (const auto& have : to) {
    if (same_record(have, r)) {
      return;
    }
  }
  to.push_back(r);
}

}  // namespace

std::string host_name(const mdns_zone& z) {
  return dns::escape_label(z.host) + ".local";
}

std::string instance_name(const mdns_zone& z, const mdns_service& s) {
  return dns::escape_label(z.instance) + "." + s.type;
}

std::string host_label(const std::string& name) {
  std::string out;
  for (char c : name) {
    bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    out += ok ? c : '-';
    if (out.size() == 63) {
      break;
    }
  }
  return out.empty() ? "myelin" : out;
}

std::vector<dns::record> zone_records(const mdns_zone& z,
                                      const std::vector<ipv4_address>& addresses, bool goodbye) {
  std::vector<dns::record> out;
  if (z.host.empty()) {
    return out;
  }
  auto rec = [&](std::string name, uint16_t type, uint32_t ttl) {
    dns::record r;
    r.name = std::move(name);
    r.type = type;
    r.ttl = goodbye ? 0 : ttl;
    r.cache_flush = type != dns::rr::ptr;
    return r;
  };
  for (const auto& a : addresses) {
    auto r = rec(host_name(z), dns::rr::a, z.host_ttl);
    r.ipv4 = a;
    out.push_back(std::move(r));
  }
  for (const auto& s : z.services) {
    auto inst = instance_name(z, s);
    auto ptr = rec(s.type, dns::rr::ptr, z.other_ttl);
    ptr.target = inst;
    out.push_back(std::move(ptr));
    auto srv = rec(inst, dns::rr::srv, z.host_ttl);
    srv.port = s.port;
    srv.target = host_name(z);
    out.push_back(std::move(srv));
    auto txt = rec(inst, dns::rr::txt, z.other_ttl);
    txt.txt = s.txt;
    out.push_back(std::move(txt));
    auto meta = rec(services_meta, dns::rr::ptr, z.other_ttl);
    meta.target = s.type;
    out.push_back(std::move(meta));
  }
  return out;
}

dns::message announcement(const mdns_zone& z, const std::vector<ipv4_address>& addresses,
                          bool goodbye) {
  dns::message m;
  m.flags = dns::flag_response | dns::flag_authoritative;
  m.answers = zone_records(z, addresses, goodbye);
  return m;
}

std::optional<reply> answer_query(const mdns_zone& z, const std::vector<ipv4_address>& addresses,
                                  const dns::message& query, bool legacy) {
  // Only standard queries (opcode 0) that are not responses.
  if (query.is_response() || ((query.flags >> 11) & 0xf) != 0 || query.questions.empty()) {
    return std::nullopt;
  }
  auto records = zone_records(z, addresses);
  reply out;
  out.route = legacy ? reply_route::unicast : reply_route::multicast;
  bool all_qu = true;
  for (const auto& q : query.questions) {
    bool answered = false;
    for (const auto& r : records) {
      if (!matches(q, r)) {
        continue;
      }
      // Known-answer suppression (RFC 6762 §7.1); not for legacy askers,
      // whose caches we cannot count on.
      bool known = !legacy && std::any_of(query.answers.begin(), query.answers.end(),
                                          [&](const dns::record& k) {
                                            return same_record(k, r) && k.ttl >= r.ttl / 2;
                                          });
      if (!known) {
        add_unique(out.message.answers, r);
        answered = true;
      }
    }
    if (answered) {
      all_qu = all_qu && q.unicast_response;
    }
  }
  if (out.message.answers.empty()) {
    return std::nullopt;
  }
  if (all_qu) {
    out.route = reply_route::unicast;
  }
  // Additional records (RFC 6763 §12): a PTR brings its SRV, TXT and the
  // addresses; an SRV its addresses.
  auto add_for = [&](const std::string& name, uint16_t type) {
    for (const auto& r : records) {
      if (r.type == type && dns::same_name(r.name, name)) {
        bool in_answers = std::any_of(out.message.answers.begin(), out.message.answers.end(),
                                      [&](const dns::record& a) { return same_record(a, r); });
        if (!in_answers) {
          add_unique(out.message.additionals, r);
        }
      }
    }
  };
  auto answers = out.message.answers;
  for (const auto& a : answers) {
    if (a.type == dns::rr::ptr && !dns::same_name(a.name, services_meta)) {
      add_for(a.target, dns::rr::srv);
      add_for(a.target, dns::rr::txt);
      add_for(host_name(z), dns::rr::a);
    } else if (a.type == dns::rr::srv) {
      add_for(host_name(z), dns::rr::a);
    }
  }
  out.message.flags = dns::flag_response | dns::flag_authoritative;
  if (legacy) {
    out.message.id = query.id;
    out.message.questions = query.questions;
    for (auto& q : out.message.questions) {
      q.unicast_response = false;
    }
    for (auto* section : {&out.message.answers, &out.message.additionals}) {
      for (auto& r : *section) {
        r.cache_flush = false;
        r.ttl = std::min(r.ttl, legacy_ttl);
      }
    }
  } else {
    for (auto* section : {&out.message.answers, &out.message.additionals}) {
      for (auto& r : *section) {
        r.cache_flush = is_unique(r);
      }
    }
  }
  return out;
}

std::optional<ipv4_address> conflicting_address(const mdns_zone& z,
                                                const std::vector<ipv4_address>& ours,
                                                const dns::message& response) {
  if (!response.is_response() || z.host.empty()) {
    return std::nullopt;
  }
  auto name = host_name(z);
  for (const auto* section : {&response.answers, &response.additionals}) {
    for (const auto& r : *section) {
      if (r.type == dns::rr::a && r.ttl > 0 && dns::same_name(r.name, name) &&
          std::find(ours.begin(), ours.end(), r.ipv4) == ours.end()) {
        return r.ipv4;
      }
    }
  }
  return std::nullopt;
}

}  // namespace myelin::runtime::mdns
