// Discovery on the LAN as a user meets it (docs/discovery.md): a device —
// myelin-boot in one network namespace, its address from dnsmasq over a veth
// pair by the net service's udhcpc — announces itself by multicast DNS; in
// the other namespace (the laptop) `myelin devices` lists it and
// `myelin status --device <name>.local` reaches it. Then the DHCP client is
// restarted onto a new lease (a new address): the device announces the new
// address unsolicited and stays resolvable. dig (an independent DNS
// implementation) reads its answers; hostile packets change nothing; another
// host claiming the name is reported; the stop says goodbye (TTL 0).
#include <signal.h>

#include <chrono>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"
#include "myelin/runtime/mdns/dns_message.hpp"
#include "myelin/runtime/mdns/mdns_zone.hpp"
#include "netns_pair.hpp"

using namespace myelin::test;
using namespace std::chrono_literals;
namespace dns = myelin::runtime::dns;

namespace {

constexpr const char* device_name = "testdev";

/// myelin-boot in the near namespace: DHCP on the veth, the control channel
/// on every address (plain HTTP, allowed explicitly), mdns on.
struct lan_device {
  temp_dir state;
  std::unique_ptr<child_process> proc;
  int port = free_port();

  lan_device(const netns_pair& ns, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{program_path("ip"),
                                  "netns",
                                  "exec",
                                  ns.near,
                                  bin("myelin-boot"),
                                  "--config",
                                  host_config(),
                                  "--set",
                                  "control.address=0.0.0.0",
                                  "--set",
                                  "control.allow_unauthenticated=true",
                                  "--set",
                                  "control.port=" + std::to_string(port),
                                  "--set",
                                  "state.dir=" + state.path().string(),
                                  "--set",
                                  "net.interfaces." + ns.near_if + ".method=dhcp",
                                  "--set",
                                  "mdns.enabled=on",
                                  "--set",
                                  std::string{"mdns.hostname="} + device_name};
    for (const char* app : {"hello", "ticker", "fault"}) {
      argv.insert(argv.end(), {"--set", std::string{"apps."} + app + ".enabled=false"});
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    start_until_ready(proc, argv);
  }
  ~lan_device() {
    if (proc) {
      proc->signal(SIGTERM);
      proc->wait(20s);
    }
  }
};

/// The tool in the far namespace (the laptop), with a short mDNS wait for
/// names that do not answer.
command_result laptop(const netns_pair& ns, const std::vector<std::string>& args) {
  std::string cmd = "MYELIN_MDNS_TIMEOUT_MS=1500 timeout 60 ip netns exec " + ns.far + " " +
                    shell_quote(bin("myelin"));
  for (const auto& a : args) {
    cmd += " " + shell_quote(a);
  }
  return run(cmd + " 2>&1");
}

nlohmann::json devices_json(const netns_pair& ns) {
  auto r = laptop(ns, {"devices", "--json", "--wait-ms", "800"});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_discarded() ? nlohmann::json::array() : doc;
}

/// The address `myelin devices` hears for our device ("" if none).
std::string heard_address(const netns_pair& ns) {
  for (const auto& d : devices_json(ns)) {
    if (d.value("instance", "") == device_name) {
      return d.value("address", "");
    }
  }
  return {};
}

/// A passive listener on the laptop: every packet to the group on 5353,
/// printed as "<source> <hex>" (python3's socket module: not our code).
std::unique_ptr<child_process> group_listener(const netns_pair& ns) {
  static const char* script =
      "import socket,struct,sys,binascii\n"
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
      "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
      "s.bind(('',5353))\n"
      "i=socket.if_nametoindex(sys.argv[1])\n"
      "s.setsockopt(socket.IPPROTO_IP,socket.IP_ADD_MEMBERSHIP,"
      "struct.pack('4s4si',socket.inet_aton('224.0.0.251'),b'\\0'*4,i))\n"
      "print('listening',flush=True)\n"
      "while True:\n"
      "  d,a=s.recvfrom(65536)\n"
      "  print(a[0],binascii.hexlify(d).decode(),flush=True)\n";
  auto p = std::make_unique<child_process>(
      std::vector<std::string>{program_path("ip"), "netns", "exec", ns.far, program_path("python3"),
                               "-c", script, ns.far_if});
  if (!p->wait_for_line("listening", 10s)) {
    ADD_FAILURE() << "the listener did not start: " << p->output();
  }
  return p;
}

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string to_hex(const std::vector<uint8_t>& b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (auto c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

/// Whether the listener heard a response holding an A record for our name
/// with `address` and a TTL matching `goodbye` (0) or not.
bool heard_a_record(const child_process& listener, const std::string& address, bool goodbye) {
  std::istringstream lines{listener.output()};
  std::string line;
  while (std::getline(lines, line)) {
    auto space = line.find(' ');
    if (space == std::string::npos) {
      continue;
    }
    auto bytes = from_hex(line.substr(space + 1));
    auto m = dns::parse(bytes.data(), bytes.size());
    if (!m || !m->is_response()) {
      continue;
    }
    for (const auto& r : m->answers) {
      if (r.type == dns::rr::a && dns::same_name(r.name, std::string{device_name} + ".local") &&
          dns::format_ipv4(r.ipv4) == address && (r.ttl == 0) == goodbye) {
        return true;
      }
    }
  }
  return false;
}

/// Sends each hex payload from the laptop to `host`:5353 (the group: out
/// the laptop's interface).
void send_packets(const netns_pair& ns, const std::string& host,
                  const std::vector<std::string>& payloads) {
  std::string list;
  for (const auto& p : payloads) {
    list += "'" + p + "',";
  }
  auto script =
      "import socket,binascii\n"
      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
      "s.setsockopt(socket.IPPROTO_IP,socket.IP_MULTICAST_IF,socket.inet_aton('" +
      std::string{far_ip} +
      "'))\n"
      "for p in [" +
      list +
      "]:\n"
      "  s.sendto(binascii.unhexlify(p),('" +
      host + "',5353))\n";
  auto r = run("ip netns exec " + ns.far + " python3 -c " + shell_quote(script) + " 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

nlohmann::json mdns_status(const netns_pair& ns, const lan_device& dev, const std::string& ip) {
  auto r = laptop(ns, {"mdns", "--json", "--device", ip + ":" + std::to_string(dev.port)});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_discarded() ? nlohmann::json{{"output", r.output}} : doc;
}

#define MYELIN_REQUIRE_LAN(pair)                  \
  do {                                            \
    MYELIN_REQUIRE_NETNS(pair);                   \
    if (program_path("python3").empty()) {        \
      GTEST_SKIP() << "python3 is not installed"; \
    }                                             \
  } while (false)

}  // namespace

// The user's path: the device gets its address by DHCP and announces itself;
// `myelin devices` lists it with its serial and version; `--device
// testdev.local` reaches it (the port from its SRV record); dig reads the
// same records. Then the DHCP client restarts onto another lease: the new
// address is announced without being asked and resolves, the group is
// joined, and at the stop the device says goodbye.
TEST(mdns, devices_lists_it_and_the_name_follows_a_new_lease) {
  netns_pair ns;
  MYELIN_REQUIRE_LAN(ns);
  temp_dir dir;
  auto dnsmasq = start_dnsmasq(ns, dir);
  auto listener = group_listener(ns);
  auto dev = std::make_unique<lan_device>(ns);
  ASSERT_TRUE(dev->proc);
  std::string first;
  ASSERT_TRUE(eventually(
      [&] {
        first = heard_address(ns);
        return std::regex_match(first, std::regex{R"(10\.99\.0\.(5\d|60))"});
      },
      40s))
      << laptop(ns, {"devices"}).output << dev->proc->output() << dnsmasq->output();

  auto list = laptop(ns, {"devices"});
  ASSERT_EQ(list.exit_code, 0) << list.output;
  EXPECT_NE(list.output.find("NAME"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find("testdev.local"), std::string::npos) << list.output;
  EXPECT_NE(list.output.find(first + ":" + std::to_string(dev->port)), std::string::npos)
      << list.output;
  EXPECT_NE(list.output.find("HOST-0001"), std::string::npos) << list.output;
  auto json = devices_json(ns);
  ASSERT_EQ(json.size(), 1u) << json.dump();
  EXPECT_EQ(json[0]["port"], dev->port);
  EXPECT_EQ(json[0]["txt"]["serial"], "HOST-0001");
  EXPECT_EQ(json[0]["txt"]["version"], "0.1.0");
  EXPECT_EQ(json[0]["txt"]["product"], "myelin-demo");
  EXPECT_EQ(json[0]["txt"]["tls"], "0");
  EXPECT_EQ(json[0]["interface"], ns.far_if);

  // Everywhere --device works: the port comes from the SRV record.
  auto status = laptop(ns, {"status", "--device", "testdev.local"});
  ASSERT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("device:   myelin-host"), std::string::npos) << status.output;
  auto time = laptop(ns, {"time", "--device", "TESTDEV.local"});
  EXPECT_EQ(time.exit_code, 0) << time.output;
  // And in $MYELIN_DEVICE, as docs/discovery.md says.
  auto by_env = run("MYELIN_DEVICE=testdev.local timeout 60 ip netns exec " + ns.far + " " +
                    shell_quote(bin("myelin")) + " status 2>&1");
  EXPECT_EQ(by_env.exit_code, 0) << by_env.output;
  EXPECT_NE(by_env.output.find("device:   myelin-host"), std::string::npos) << by_env.output;

  // dig, querying the responder directly on 5353 (RFC 6762 §5.5).
  if (!program_path("dig").empty()) {
    auto dig = run("ip netns exec " + ns.far + " dig +time=2 +tries=2 @" + first +
                   " -p 5353 testdev._myelin._tcp.local SRV 2>&1");
    EXPECT_NE(dig.output.find("status: NOERROR"), std::string::npos) << dig.output;
    EXPECT_NE(dig.output.find("SRV\t0 0 " + std::to_string(dev->port) + " testdev.local."),
              std::string::npos)
        << dig.output;
    EXPECT_NE(dig.output.find("IN\tA\t" + first), std::string::npos) << dig.output;
    auto txt = run("ip netns exec " + ns.far + " dig +short +time=2 +tries=2 @" + first +
                   " -p 5353 testdev._myelin._tcp.local TXT 2>&1");
    EXPECT_NE(txt.output.find("\"serial=HOST-0001\""), std::string::npos) << txt.output;
  } else {
    std::cout << "[ SKIPPED  ] the dig cross-check: dig is not installed (bind9-dnsutils)\n";
  }
  // The announcement at start reached the group unasked.
  EXPECT_TRUE(eventually(
      [&] {
        listener->wait_for_line("\n", 100ms);
        return heard_a_record(*listener, first, false);
      },
      5s))
      << listener->output();

  // A new lease: dnsmasq now maps the MAC to .77; the DHCP client is killed
  // and the net service starts it again (deconfig, discover, bound).
  dnsmasq.reset();
  dnsmasq = start_dnsmasq(ns, dir, {std::string{"--dhcp-host="} + near_mac + ",10.99.0.77"});
  auto udhcpc = run("pgrep -P " + std::to_string(dev->proc->pid()) + " -x udhcpc");
  ASSERT_EQ(udhcpc.exit_code, 0) << "no udhcpc under myelin-boot: " << dev->proc->output();
  run("kill -9 " + udhcpc.output);
  ASSERT_TRUE(eventually([&] { return heard_address(ns) == "10.99.0.77"; }, 40s))
      << laptop(ns, {"devices"}).output << dev->proc->output();
  EXPECT_TRUE(dev->proc->wait_for_line("mdns: " + ns.near_if + " now has 10.99.0.77", 5s))
      << dev->proc->output();
  EXPECT_TRUE(eventually(
      [&] {
        listener->wait_for_line("\n", 100ms);
        return heard_a_record(*listener, "10.99.0.77", false);
      },
      5s))
      << listener->output();
  status = laptop(ns, {"status", "--device", "testdev.local"});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  // Still in the group on the interface (224.0.0.251 is FB0000E0 there).
  auto igmp = run("ip netns exec " + ns.near + " cat /proc/net/igmp");
  EXPECT_NE(igmp.output.find("FB0000E0"), std::string::npos) << igmp.output;
  auto st = mdns_status(ns, *dev, "10.99.0.77");
  EXPECT_EQ(st.value("state", ""), "ok") << st.dump();
  EXPECT_EQ(st.value("host", ""), "testdev.local") << st.dump();
  EXPECT_GE(st.value("announcements", 0), 4) << st.dump();

  // The stop says goodbye: TTL 0 for the address.
  dev.reset();
  EXPECT_TRUE(eventually(
      [&] {
        listener->wait_for_line("\n", 100ms);
        return heard_a_record(*listener, "10.99.0.77", true);
      },
      5s))
      << listener->output();
}

// Hostile and malformed packets — garbage, truncated, pointer loops, huge
// counts, an oversized datagram — to the group and to the device: counted
// as malformed, nothing else; the device keeps answering. Another host that
// claims our name is reported as a conflict.
TEST(mdns, hostile_packets_change_nothing_and_a_conflict_is_reported) {
  netns_pair ns;
  MYELIN_REQUIRE_LAN(ns);
  temp_dir dir;
  auto dnsmasq = start_dnsmasq(ns, dir);
  lan_device dev{ns};
  ASSERT_TRUE(dev.proc);
  std::string ip;
  ASSERT_TRUE(eventually([&] { return !(ip = heard_address(ns)).empty(); }, 40s))
      << dev.proc->output();
  std::vector<std::string> bad = {
      "00",                                                            // no header
      "0000000000010000000000",                                        // a header cut short
      "000000000001000000000000c00c00010001",                          // a name pointing at itself
      "000000000001000000000000c0ff00010001",                          // a pointer forwards
      "0000000000ff00ff00000000",                                      // counts with no records
      "000084000000000100000000047465737400000100010000007800ff0a0a",  // rdata past the end
      "000000000001000000000000"
      "40" +
          std::string(128, '6'),    // reserved label type
      std::string(2 * 10000, 'f'),  // 10000 bytes
  };
  send_packets(ns, "224.0.0.251", bad);
  send_packets(ns, ip, bad);
  ASSERT_TRUE(eventually([&] { return mdns_status(ns, dev, ip).value("malformed", 0) >= 16; }, 10s))
      << mdns_status(ns, dev, ip).dump();
  EXPECT_EQ(heard_address(ns), ip);
  EXPECT_EQ(laptop(ns, {"status", "--device", "testdev.local"}).exit_code, 0);

  // Someone else answers for testdev.local with another address.
  dns::message claim;
  claim.flags = dns::flag_response | dns::flag_authoritative;
  dns::record a;
  a.name = "testdev.local";
  a.type = dns::rr::a;
  a.cache_flush = true;
  a.ttl = 120;
  a.ipv4 = {10, 99, 0, 1};
  claim.answers.push_back(a);
  auto wire = dns::serialize(claim);
  ASSERT_TRUE(wire);
  send_packets(ns, "224.0.0.251", {to_hex(*wire)});
  EXPECT_TRUE(dev.proc->wait_for_line("mdns: name conflict: 10.99.0.1 claims testdev.local", 10s))
      << dev.proc->output();
  auto st = mdns_status(ns, dev, ip);
  EXPECT_EQ(st.value("conflicts", 0), 1) << st.dump();
  auto text = laptop(ns, {"mdns", "--device", "testdev.local"});
  EXPECT_NE(text.output.find("conflicts:     1 (last: 10.99.0.1 claims testdev.local)"),
            std::string::npos)
      << text.output;
}

// A name nobody answers for: a clear error naming the interfaces asked, and
// `myelin devices` says none answered (exit 1).
TEST(mdns, unknown_name_and_empty_network_are_clear_errors) {
  netns_pair ns;
  MYELIN_REQUIRE_LAN(ns);
  auto r = laptop(ns, {"status", "--device", "nosuch.local"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(
      r.output.find("no device answered for nosuch.local over mDNS within 1500 ms (asked on " +
                    ns.far_if + ")"),
      std::string::npos)
      << r.output;
  auto list = laptop(ns, {"devices", "--wait-ms", "300"});
  EXPECT_EQ(list.exit_code, 1) << list.output;
  EXPECT_NE(list.output.find("no device answered within 300 ms"), std::string::npos) << list.output;
  auto bad = laptop(ns, {"devices", "--wait-ms", "5"});
  EXPECT_NE(bad.exit_code, 0) << bad.output;
  auto none = laptop(ns, {"devices", "--interface", "nosuch0"});
  EXPECT_EQ(none.exit_code, 1) << none.output;
  EXPECT_NE(none.output.find("none of the interfaces asked for"), std::string::npos) << none.output;
}

// Off unless asked in host mode (mdns.enabled = auto): nothing binds 5353.
TEST(mdns, off_in_host_mode) {
  booted_device dev;
  ASSERT_GT(dev.port, 0);
  auto r = run_myelin({"mdns", "--device", dev.address()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("state:         off"), std::string::npos) << r.output;
}

// HTTPS by name: the device's certificate names testdev.local; the tool
// connects to the address mDNS gave but checks the certificate against the
// name — a certificate for another name is refused.
TEST(mdns, https_by_name_checks_the_certificate_against_the_name) {
  netns_pair ns;
  MYELIN_REQUIRE_LAN(ns);
  temp_dir keys;
  std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  auto cert = [&](const std::string& name, const std::string& san) {
    return "printf 'subjectAltName=" + san + "\\n' > " + name + ".ext; openssl req" + ec +
           "-keyout " + name + ".key -out " + name + ".csr -subj /CN=" + name +
           "; openssl x509 -req -in " + name + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial " +
           "-days 2 -extfile " + name + ".ext -out " + name + ".pem;";
  };
  auto script = "set -e; cd " + shell_quote(keys.path().string()) + "; openssl req -x509" + ec +
                "-keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca; " +
                cert("device", "DNS:testdev.local") + cert("other", "DNS:other.local") +
                cert("client", "DNS:laptop");
  auto made = run("sh -c " + shell_quote(script) + " 2>&1");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  temp_dir dir;
  auto dnsmasq = start_dnsmasq(ns, dir);
  for (const std::string server : {"device", "other"}) {
    lan_device dev{ns,
                   {"--set", "control.tls=true", "--set",
                    "control.cert=" + (keys / (server + ".pem")).string(), "--set",
                    "control.key=" + (keys / (server + ".key")).string(), "--set",
                    "control.client_ca=" + (keys / "ca.pem").string()}};
    ASSERT_TRUE(dev.proc);
    ASSERT_TRUE(eventually([&] { return !heard_address(ns).empty(); }, 40s)) << dev.proc->output();
    auto r = laptop(
        ns, {"status", "--device", "testdev.local", "--ca", (keys / "ca.pem").string(), "--cert",
             (keys / "client.pem").string(), "--key", (keys / "client.key").string()});
    if (server == "device") {
      EXPECT_EQ(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find("device:   myelin-host"), std::string::npos) << r.output;
      auto list = laptop(ns, {"devices"});
      EXPECT_NE(list.output.find("(https)"), std::string::npos) << list.output;
    } else {
      EXPECT_NE(r.exit_code, 0) << r.output;
      EXPECT_NE(r.output.find("cannot reach the device at testdev.local"), std::string::npos)
          << r.output;
    }
  }
}
