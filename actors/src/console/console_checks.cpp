// What the control channel checks before routing (see console_checks.hpp).
#include "myelin/actors/console_checks.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace myelin::actors {

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

/// The host part of a Host header value: "[::1]:4848" -> "::1", "a:1" -> "a".
std::string host_part(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto end = host.find(']');
    return end == std::string_view::npos ? std::string{} : std::string{host.substr(1, end - 1)};
  }
  return std::string{host.substr(0, host.find(':'))};
}

bool printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace

bool is_loopback_address(std::string_view address) {
  if (address.empty() || address.size() >= INET6_ADDRSTRLEN) {
    return false;
  }
  std::string text{address};
  in_addr v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) {
      return true;
    }
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

std::string cross_origin_refusal(std::string_view host, std::string_view origin,
                                 std::string_view fetch_site, bool tls, bool loopback_listener) {
  if (!printable(host) || host.size() > 255) {
    return "malformed Host header";
  }
  if (loopback_listener && !host.empty()) {
    auto name = lower(host_part(host));
    if (name != "localhost" && !is_loopback_address(name)) {
      return "Host '" + std::string{host} +
             "' is not a loopback address: the control channel listens on loopback only, so "
             "this is a name pointed at it from elsewhere (DNS rebinding)";
    }
  }
  if (!origin.empty()) {
    auto same = std::string{tls ? "https://" : "http://"} + lower(host);
    if (host.empty() || lower(origin) != same) {
      return "cross-origin request (Origin '" + std::string{origin.substr(0, 200)} +
             "'): a web page may not drive the device";
    }
  }
  if (!fetch_site.empty() && fetch_site != "same-origin" && fetch_site != "none") {
    return "cross-site request (Sec-Fetch-Site: " + std::string{fetch_site.substr(0, 40)} +
           "): a web page may not drive the device";
  }
  return {};
}

std::pair<int, std::string> body_refusal(std::string_view method, std::string_view path,
                                         std::string_view content_encoding,
                                         std::string_view transfer_encoding) {
  if (!content_encoding.empty() && lower(content_encoding) != "identity") {
    return {415, "request bodies are not decoded (Content-Encoding: " +
                     std::string{content_encoding.substr(0, 40)} + "): send them as they are"};
  }
  if (!transfer_encoding.empty()) {
    bool upload = method == "POST" && (path == "/v1/fw/upload" || path == "/v1/overlays");
    if (!upload) {
      return {411,
              "a chunked body is accepted only by the uploads (POST /v1/fw/upload, "
              "/v1/overlays): send Content-Length"};
    }
  }
  return {0, {}};
}

control_role role_of(std::string_view cn, const std::vector<std::string>& ous,
                     const std::vector<std::string>& admins,
                     const std::vector<std::string>& readers) {
  auto matches = [&](const std::vector<std::string>& entries) {
    for (const auto& e : entries) {
      std::string_view entry{e};
      if (entry == "*") {
        return true;
      }
      if (entry.rfind("OU=", 0) == 0) {
        for (const auto& ou : ous) {
          if (!ou.empty() && ou == entry.substr(3)) {
            return true;
          }
        }
        continue;
      }
      if (entry.rfind("CN=", 0) == 0) {
        entry.remove_prefix(3);
      }
      if (!cn.empty() && entry == cn) {
        return true;
      }
    }
    return false;
  };
  if (matches(admins)) {
    return control_role::admin;
  }
  return matches(readers) ? control_role::reader : control_role::none;
}

bool changes_state(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

}  // namespace myelin::actors
