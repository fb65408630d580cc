// A client of a running device's control channel.
#include "myelin/tools/device_client.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>

#include <netdb.h>
#include <sys/socket.h>

#include <httplib.h>
#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <nlohmann/json.hpp>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/mdns/mdns_socket.hpp"

namespace myelin::tools {

std::string to_string(client_errc x) {
  switch (x) {
    case client_errc::bad_address:
      return "bad_address";
    case client_errc::unreachable:
      return "unreachable";
    case client_errc::request_failed:
      return "request_failed";
    case client_errc::bad_response:
      return "bad_response";
  }
  return "client_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(client_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("client"),
                    caf::make_message(std::move(context))};
}

caf::expected<device_address> parse_device_text(const std::string& text) {
  std::string s = text;
  if (s.empty()) {
    const char* env = std::getenv("MYELIN_DEVICE");
    if (env == nullptr || *env == '\0') {
      return device_address{};
    }
    s = env;
  }
  device_address out;
  std::string port_text;
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) {
      return make_error(client_errc::bad_address, "device address '" + s + "': missing ']'");
    }
    out.host = s.substr(1, close - 1);
    if (close + 1 < s.size()) {
      if (s[close + 1] != ':') {
        return make_error(client_errc::bad_address,
                          "device address '" + s + "': expected [HOST]:PORT");
      }
      port_text = s.substr(close + 2);
    }
  } else if (auto colon = s.rfind(':'); colon != std::string::npos) {
    out.host = s.substr(0, colon);
    port_text = s.substr(colon + 1);
  } else {
    out.host = s;
  }
  if (out.host.empty()) {
    return make_error(client_errc::bad_address, "device address '" + s + "': empty host");
  }
  if (!port_text.empty() || s.back() == ':') {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535) {
      return make_error(client_errc::bad_address,
                        "device address '" + s + "': port must be 1..65535");
    }
    out.port = static_cast<uint16_t>(port);
    out.port_given = true;
  }
  return out;
}

caf::expected<device_address> parse_device_address(const std::string& text) {
  auto dev = parse_device_text(text);
  if (!dev || !runtime::mdns::is_local_name(dev->host)) {
    return dev;
  }
  runtime::mdns::query_options opts;
  opts.wait = std::chrono::milliseconds{2000};
  if (const char* env = std::getenv("MYELIN_MDNS_TIMEOUT_MS"); env != nullptr && *env != '\0') {
    opts.wait = std::chrono::milliseconds{std::max(1L, std::atol(env))};
  }
  auto found = runtime::mdns::resolve(dev->host, opts);
  if (found) {
    dev->address = found->address;
    if (!dev->port_given && found->port != 0) {
      dev->port = found->port;
    }
    return dev;
  }
  // Not over our own queries: perhaps the system resolves it.
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  if (::getaddrinfo(dev->host.c_str(), nullptr, &hints, &list) == 0) {
    ::freeaddrinfo(list);
    return dev;
  }
  return make_error(client_errc::unreachable,
                    runtime::describe(found.error()) +
                        "; is the device on this network with mdns.enabled on? (or give "
                        "--device ADDRESS:PORT)");
}

namespace {

caf::expected<std::string> answer(const device_address& dev, const httplib::Result& res) {
  auto where = dev.host + ":" + std::to_string(dev.port) +
               (dev.address.empty() ? std::string{} : " (" + dev.address + " by mDNS)");
  if (!res) {
    return make_error(client_errc::unreachable, "cannot reach the device at " + where + ": " +
                                                    httplib::to_string(res.error()));
  }
  if (res->status < 200 || res->status > 299) {
    std::string why = res->body;
    auto parsed = nlohmann::json::parse(res->body, nullptr, false);
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
      why = parsed["error"].get<std::string>();
    }
    return caf::error{static_cast<uint8_t>(client_errc::request_failed), caf::atom("client"),
                      caf::make_message(why, res->status)};
  }
  return res->body;
}

httplib::Client client_for(const device_address& dev) {
  auto host = dev.host.find(':') != std::string::npos ? "[" + dev.host + "]" : dev.host;
  auto base = (dev.ca.empty() ? "http://" : "https://") + host + ":" + std::to_string(dev.port);
  httplib::Client cli =
      dev.ca.empty() ? httplib::Client(base) : httplib::Client(base, dev.cert, dev.key);
  if (!dev.address.empty()) {
    cli.set_hostname_addr_map({{dev.host, dev.address}});
  }
  if (!dev.ca.empty()) {
    cli.set_ca_cert_path(dev.ca.c_str());
    cli.enable_server_certificate_verification(true);
  }
  cli.set_connection_timeout(std::chrono::seconds{3});
  cli.set_read_timeout(std::chrono::seconds{30});
  return cli;
}

}  // namespace

caf::error set_credentials(device_address& dev, std::string ca, std::string cert, std::string key) {
  auto from_env = [](std::string& value, const char* name) {
    if (value.empty()) {
      if (const char* env = std::getenv(name); env != nullptr) {
        value = env;
      }
    }
  };
  from_env(ca, "MYELIN_CA");
  from_env(cert, "MYELIN_CERT");
  from_env(key, "MYELIN_KEY");
  if (cert.empty() != key.empty()) {
    return make_error(client_errc::bad_address, "a client certificate needs both --cert and --key");
  }
  if (!cert.empty() && ca.empty()) {
    return make_error(client_errc::bad_address,
                      "--cert and --key need --ca, the CA that signed the device's certificate");
  }
  dev.ca = std::move(ca);
  dev.cert = std::move(cert);
  dev.key = std::move(key);
  return {};
}

caf::expected<std::string> get(const device_address& dev, const std::string& path) {
  auto cli = client_for(dev);
  return answer(dev, cli.Get(path));
}

caf::expected<std::string> send(const device_address& dev, const std::string& method,
                                const std::string& path, const std::string& body) {
  auto cli = client_for(dev);
  if (method == "PUT") {
    return answer(dev, cli.Put(path, body, "application/json"));
  }
  return answer(dev, cli.Post(path, body, "application/json"));
}

caf::expected<std::pair<int, std::string>> post_bytes(const device_address& dev,
                                                      const std::string& path,
                                                      const std::string& body,
                                                      std::chrono::seconds timeout) {
  auto cli = client_for(dev);
  cli.set_read_timeout(timeout);
  // Chunked: the device reads a push as a stream, whatever its size.
  auto res = cli.Post(
      path,
      [&body](size_t offset, httplib::DataSink& sink) {
        if (offset < body.size()) {
          auto n = std::min<size_t>(body.size() - offset, 64 * 1024);
          return sink.write(body.data() + offset, n);
        }
        sink.done();
        return true;
      },
      "application/octet-stream");
  if (!res) {
    return make_error(client_errc::unreachable, "cannot reach the device at " + dev.host + ":" +
                                                    std::to_string(dev.port) + ": " +
                                                    httplib::to_string(res.error()));
  }
  return std::make_pair(res->status, res->body);
}

int http_status(const caf::error& err) {
  if (err.category() == caf::atom("client") && err.context().size() == 2 &&
      err.context().match_element<int>(1)) {
    return err.context().get_as<int>(1);
  }
  return 0;
}

std::string url_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) != 0 || c == '.' || c == '_' || c == '-' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  return out;
}

}  // namespace myelin::tools
