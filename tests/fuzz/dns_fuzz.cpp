// libFuzzer target `dns`: the DNS parser on arbitrary bytes must not crash or
// read outside the packet; what parses is answered by the responder's zone
// (as a legacy and a multicast asker), and the answer must serialize and
// parse again.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "myelin/runtime/mdns/dns_message.hpp"
#include "myelin/runtime/mdns/mdns_zone.hpp"

namespace dns = myelin::runtime::dns;
namespace mdns = myelin::runtime::mdns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto m = dns::parse(data, size);
  if (!m) {
    return 0;
  }
  static const mdns::mdns_zone zone = [] {
    mdns::mdns_zone z;
    z.host = "dev";
    z.instance = "dev";
    mdns::mdns_service s;
    s.type = mdns::myelin_service;
    s.port = 4848;
    s.txt = {"serial=ABC"};
    z.services.push_back(s);
    return z;
  }();
  const std::vector<mdns::ipv4_address> addrs{{10, 0, 0, 2}, {192, 168, 1, 5}};
  for (bool legacy : {false, true}) {
    if (auto r = mdns::answer_query(zone, addrs, *m, legacy)) {
      auto wire = dns::serialize(r->message);
      // Our own answer echoes parsed questions: it may be refused as too
      // large, but what is written must parse.
      if (wire && !dns::parse(wire->data(), wire->size())) {
        std::abort();
      }
    }
  }
  mdns::conflicting_address(zone, addrs, *m);
  return 0;
}
