// Ed25519 signing and SHA-256 hashing on libsodium.
#include "myelin/runtime/platform/signing.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime {

namespace {

constexpr std::string_view public_prefix = "ed25519:";
constexpr std::string_view secret_prefix = "ed25519-secret:";

static_assert(crypto_sign_PUBLICKEYBYTES == 32 && crypto_sign_SECRETKEYBYTES == 64 &&
              crypto_sign_BYTES == 64);

void ensure_sodium() {
  static std::once_flag once;
  std::call_once(once, [] {
    // sodium_init() only fails when no entropy source exists; nothing can be
    // signed safely then, and every caller would crash on a bad key anyway.
    if (sodium_init() < 0)
      std::abort();
  });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

std::string to_base64(const uint8_t* data, size_t size) {
  std::string out(sodium_base64_encoded_len(size, sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), data, size, sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

// Decodes exactly `size` bytes of base64; false on anything else.
bool from_base64(std::string_view text, uint8_t* out, size_t size) {
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out, size, text.data(), text.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return false;
  return len == size && end == text.data() + text.size();
}

caf::expected<std::string> read_small_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return make_error(signing_errc::io_error, path + ": " + std::strerror(errno));
  std::ostringstream buf;
  buf << in.rdbuf();
  auto s = buf.str();
  if (s.size() > 4096)
    return make_error(signing_errc::bad_key, path + ": not a key file (too large)");
  return s;
}

caf::error write_new_file(const std::string& path, const std::string& text, mode_t mode) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0)
    return make_error(signing_errc::io_error, path + ": " + std::strerror(errno));
  auto ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::fsync(fd) == 0 && ok;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    ::unlink(path.c_str());
    return make_error(signing_errc::io_error, path + ": write failed");
  }
  return {};
}

}  // namespace

std::string to_string(signing_errc x) {
  switch (x) {
    case signing_errc::bad_key:
      return "bad_key";
    case signing_errc::io_error:
      return "io_error";
    case signing_errc::bad_signature:
      return "bad_signature";
    case signing_errc::bad_signature_format:
      return "bad_signature_format";
  }
  return "signing_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(signing_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("signing"),
                    caf::make_message(std::move(context))};
}

key_pair generate_key_pair() {
  ensure_sodium();
  key_pair keys;
  crypto_sign_keypair(keys.pub.data(), keys.secret.data());
  return keys;
}

std::string format_public_key(const public_key& key) {
  return std::string{public_prefix} + to_base64(key.data(), key.size());
}

caf::expected<public_key> parse_public_key(std::string_view text) {
  ensure_sodium();
  text = trim(text);
  public_key key;
  if (text.substr(0, public_prefix.size()) != public_prefix ||
      !from_base64(text.substr(public_prefix.size()), key.data(), key.size()))
    return make_error(signing_errc::bad_key,
                      "not an ed25519 public key (expected \"ed25519:<base64 of 32 bytes>\")");
  return key;
}

std::string format_signature(const signature& sig) {
  return to_base64(sig.data(), sig.size());
}

caf::expected<signature> parse_signature(std::string_view text) {
  ensure_sodium();
  signature sig;
  if (!from_base64(trim(text), sig.data(), sig.size()))
    return make_error(signing_errc::bad_signature_format,
                      "not an ed25519 signature (expected base64 of 64 bytes)");
  return sig;
}

caf::error write_key_pair(const key_pair& keys, const std::string& name) {
  auto pub_path = name + ".pub";
  auto key_path = name + ".key";
  struct stat st;
  for (const auto& p : {pub_path, key_path})
    if (::lstat(p.c_str(), &st) == 0)
      return make_error(signing_errc::io_error, p + ": exists, not overwriting a key");
  auto secret_text =
      std::string{secret_prefix} + to_base64(keys.secret.data(), keys.secret.size()) + "\n";
  if (auto err = write_new_file(key_path, secret_text, 0600))
    return err;
  if (auto err = write_new_file(pub_path, format_public_key(keys.pub) + "\n", 0644)) {
    ::unlink(key_path.c_str());
    return err;
  }
  return {};
}

caf::expected<key_pair> read_secret_key_file(const std::string& path) {
  ensure_sodium();
  auto text = read_small_file(path);
  if (!text)
    return std::move(text.error());
  auto t = trim(*text);
  key_pair keys;
  if (t.substr(0, secret_prefix.size()) != secret_prefix ||
      !from_base64(t.substr(secret_prefix.size()), keys.secret.data(), keys.secret.size()))
    return make_error(signing_errc::bad_key, path + ": not an ed25519 secret key file");
  crypto_sign_ed25519_sk_to_pk(keys.pub.data(), keys.secret.data());
  return keys;
}

caf::expected<public_key> read_public_key_file(const std::string& path) {
  auto text = read_small_file(path);
  if (!text)
    return std::move(text.error());
  auto key = parse_public_key(*text);
  if (!key)
    return make_error(signing_errc::bad_key, path + ": not an ed25519 public key file");
  return key;
}

signature sign(const secret_key& key, std::string_view data) {
  ensure_sodium();
  signature sig;
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(data.data()),
                       data.size(), key.data());
  return sig;
}

bool verify(const public_key& key, std::string_view data, const signature& sig) {
  ensure_sodium();
  return crypto_sign_verify_detached(sig.data(),
                                     reinterpret_cast<const unsigned char*>(data.data()),
                                     data.size(), key.data()) == 0;
}

caf::expected<size_t> verify_any(const std::vector<public_key>& trusted, std::string_view data,
                                 const signature& sig) {
  for (size_t i = 0; i < trusted.size(); ++i)
    if (verify(trusted[i], data, sig))
      return i;
  return make_error(signing_errc::bad_signature,
                    trusted.empty() ? "no trusted keys configured"
                                    : "signature matches none of the " +
                                          std::to_string(trusted.size()) + " trusted key(s)");
}

sha256::sha256() : ctx_(EVP_MD_CTX_new()) {
  if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc{};
  }
}

sha256::~sha256() {
  EVP_MD_CTX_free(ctx_);
}

void sha256::update(const void* data, size_t size) {
  EVP_DigestUpdate(ctx_, data, size);
}

std::string sha256::finish_hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, digest, &len);
  char hex[EVP_MAX_MD_SIZE * 2 + 1];
  sodium_bin2hex(hex, sizeof(hex), digest, len);
  return hex;
}

std::string sha256_hex(std::string_view data) {
  sha256 h;
  h.update(data);
  return h.finish_hex();
}

caf::expected<std::string> sha256_file_hex(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return make_error(signing_errc::io_error, path + ": " + std::strerror(errno));
  sha256 h;
  std::array<char, 65536> buf;
  for (;;) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      auto err = make_error(signing_errc::io_error, path + ": " + std::strerror(errno));
      ::close(fd);
      return err;
    }
    if (n == 0)
      break;
    h.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return h.finish_hex();
}

}  // namespace myelin::runtime
