// Ed25519 signatures (libsodium) and SHA-256 for overlays and firmware files.
//
// Key files (made by `myelin keys generate NAME`):
//   NAME.pub  one line: "ed25519:" + base64 of the 32-byte public key
//   NAME.key  one line: "ed25519-secret:" + base64 of the 64-byte secret key
//             (libsodium's seed + public key), created with mode 0600
// The same "ed25519:<base64>" text is what device configs list as trusted keys,
// so a public key can be pasted from NAME.pub into myelin.toml.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

/// OpenSSL's EVP_MD_CTX.
struct evp_md_ctx_st;

namespace myelin::runtime {

/// Errors of signing and verification; the error context says more.
enum class signing_errc : uint8_t {
  /// A key's text or file is malformed (wrong prefix, bad base64, wrong length).
  bad_key = 1,
  /// A key file could not be read or written.
  io_error,
  /// The signature does not match the data under any trusted key.
  bad_signature,
  /// A signature's text is malformed.
  bad_signature_format,
};

std::string to_string(signing_errc x);

caf::error make_error(signing_errc x, std::string context);

using public_key = std::array<uint8_t, 32>;
using secret_key = std::array<uint8_t, 64>;
using signature = std::array<uint8_t, 64>;

struct key_pair {
  public_key pub;
  secret_key secret;
};

/// A fresh random key pair.
key_pair generate_key_pair();

/// "ed25519:<base64>" for a public key; parse_public_key() reads it back
/// (surrounding whitespace ignored). Errors: bad_key.
std::string format_public_key(const public_key& key);
caf::expected<public_key> parse_public_key(std::string_view text);

/// A signature as base64 text and back. Errors: bad_signature_format.
std::string format_signature(const signature& sig);
caf::expected<signature> parse_signature(std::string_view text);

/// Writes NAME.pub and NAME.key (0600); refuses to overwrite existing files.
/// Errors: io_error.
caf::error write_key_pair(const key_pair& keys, const std::string& name);

/// Reads a NAME.key file. Errors: io_error, bad_key.
caf::expected<key_pair> read_secret_key_file(const std::string& path);

/// Reads a NAME.pub file. Errors: io_error, bad_key.
caf::expected<public_key> read_public_key_file(const std::string& path);

/// The detached signature of `data`.
signature sign(const secret_key& key, std::string_view data);

/// True if `sig` is a valid signature of `data` by `key`.
bool verify(const public_key& key, std::string_view data, const signature& sig);

/// The index of the first trusted key under which `sig` verifies.
/// Errors: bad_signature (context names how many keys were tried).
caf::expected<size_t> verify_any(const std::vector<public_key>& trusted, std::string_view data,
                                 const signature& sig);

/// Incremental SHA-256, on OpenSSL's EVP interface: SHA-NI or AVX2 where the
/// CPU has them, several times faster than libsodium's portable code — which
/// matters at boot, when every app's files are hashed (decision 0068).
class sha256 {
 public:
  sha256();
  ~sha256();
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;
  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  /// The digest as 64 lowercase hex characters; the object is spent afterwards.
  std::string finish_hex();

 private:
  evp_md_ctx_st* ctx_;
};

/// SHA-256 of a buffer, as lowercase hex.
std::string sha256_hex(std::string_view data);

/// SHA-256 of a file's contents, as lowercase hex. Errors: io_error.
caf::expected<std::string> sha256_file_hex(const std::string& path);

}  // namespace myelin::runtime
