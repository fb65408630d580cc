// What the control channel checks of every request before routing it
// (issue 18, decision 0079): a web page must not be able to drive the device
// (CSRF, DNS rebinding), whatever the browser sends along.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace myelin::actors {

/// An IP address literal on loopback (127.0.0.0/8, ::1, ::ffff:127.x.y.z) —
/// never a name: "127.example.com" resolves wherever its owner wants.
bool is_loopback_address(std::string_view address);

/// Why a request must be refused (empty: it may be routed), from its headers:
///   - `host`: on a loopback listener the Host header must name loopback
///     (an address literal or "localhost"), so a rebound DNS name is refused;
///   - `origin`: when present, the request must be same-origin
///     (scheme://Host); "null" and every other origin are refused;
///   - `fetch_site` (Sec-Fetch-Site): only "same-origin" or "none" (typed
///     by the user).
/// Clients other than browsers send neither Origin nor Sec-Fetch-Site.
std::string cross_origin_refusal(std::string_view host, std::string_view origin,
                                 std::string_view fetch_site, bool tls, bool loopback_listener);

/// Why a request body must be refused before it is read (status, reason;
/// status 0: it may be read):
///   - any `Content-Encoding` but identity (415): bodies are never inflated,
///     so 400 KB cannot become a gigabyte;
///   - `Transfer-Encoding: chunked` (411) except on the streamed uploads
///     (POST /v1/fw/upload, POST /v1/overlays), which bound what they read
///     themselves: elsewhere the 1 MiB cap holds only for Content-Length.
std::pair<int, std::string> body_refusal(std::string_view method, std::string_view path,
                                         std::string_view content_encoding,
                                         std::string_view transfer_encoding);

/// What a client certificate may do on a TLS control channel.
enum class control_role { none, reader, admin };

/// The role of a client certificate (signed by control.client_ca) from its
/// subject's common name `cn` and organizational units `ous`. Entries of
/// `admins` and `readers` (control.admin_clients, control.reader_clients):
/// "*" (every certificate of the CA), "CN=<name>", "OU=<unit>", or a bare
/// name (= CN). Admin wins over reader; neither is none.
control_role role_of(std::string_view cn, const std::vector<std::string>& ous,
                     const std::vector<std::string>& admins,
                     const std::vector<std::string>& readers);

/// Whether a request with `method` may change the device (not GET, HEAD, OPTIONS).
bool changes_state(std::string_view method);

}  // namespace myelin::actors
