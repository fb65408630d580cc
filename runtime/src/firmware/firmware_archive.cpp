// Streaming reading and writing of `.fw` archives with libarchive.
#include "myelin/runtime/firmware/firmware_archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "firmware/libarchive_api.hpp"
#include "firmware/sha256_alongside.hpp"
#include "myelin/runtime/config/config.hpp"

namespace myelin::runtime {

namespace {

constexpr std::string_view manifest_member = "manifest";
constexpr std::string_view signature_member = "manifest.sig";
constexpr size_t max_signature_member = 256;
constexpr size_t io_chunk = 1 << 20;

struct archive_closer {
  void operator()(archive* a) const { libarchive().read_free(a); }
};
struct archive_write_closer {
  void operator()(archive* a) const { libarchive().write_free(a); }
};

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) {
    s.remove_prefix(1);
  }
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) {
    s.remove_suffix(1);
  }
  return std::string{s};
}

// -- reading ------------------------------------------------------------------

struct source_state {
  const firmware_lending_source* source;
  caf::error error;
  /// The chunk libarchive reads from now (kept until the next one).
  firmware_chunk current;

  /// Whether [data, data + size) lies in the current chunk and that is lent.
  bool lent(const void* data, size_t size) const {
    const auto* p = static_cast<const char*>(data);
    const auto* begin = current.data.data();
    return current.keep && p >= begin && p + size <= begin + current.data.size();
  }
};

la_ssize_t read_callback(archive* a, void* client, const void** buffer) {
  auto* st = static_cast<source_state*>(client);
  st->current = firmware_chunk{};  // libarchive is done with it
  auto chunk = (*st->source)();
  if (!chunk) {
    st->error = chunk.error();
    libarchive().set_error(a, EIO, "the firmware source failed");
    return -1;
  }
  st->current = std::move(*chunk);
  *buffer = st->current.data.data();
  return static_cast<la_ssize_t>(st->current.data.size());
}

/// Turns a libarchive failure into our error: the source's own error first,
/// then "truncated" for a premature end, else a structural error.
caf::error archive_failure(archive* a, const source_state& st, const std::string& what) {
  if (st.error) {
    return st.error;
  }
  std::string msg =
      libarchive().error_string(a) != nullptr ? libarchive().error_string(a) : "unknown error";
  if (msg.find("runcated") != std::string::npos || msg.find("premature") != std::string::npos ||
      msg.find("Premature") != std::string::npos) {
    return make_error(firmware_file_errc::truncated,
                      "firmware file is truncated (" + what + ": " + msg + ")");
  }
  return make_error(firmware_file_errc::bad_archive, "firmware file: " + what + ": " + msg);
}

/// The next member's header, which must be a plain regular file.
caf::expected<archive_entry*> next_member(archive* a, const source_state& st,
                                          const std::string& expecting) {
  archive_entry* entry = nullptr;
  int rc = libarchive().read_next_header(a, &entry);
  if (rc == ARCHIVE_EOF) {
    return make_error(firmware_file_errc::truncated,
                      "firmware file ends where " + expecting + " should be (truncated?)");
  }
  if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
    return archive_failure(a, st, "reading the header of " + expecting);
  }
  return entry;
}

caf::error check_plain_file(archive_entry* entry, const std::string& name) {
  if (libarchive().entry_filetype(entry) != AE_IFREG ||
      libarchive().entry_hardlink(entry) != nullptr ||
      libarchive().entry_symlink(entry) != nullptr || libarchive().entry_size_is_set(entry) == 0) {
    return make_error(firmware_file_errc::bad_archive,
                      "firmware file: member '" + name + "' is not a regular file");
  }
  return {};
}

/// Reads a small member completely.
caf::expected<std::string> read_small(archive* a, const source_state& st, archive_entry* entry,
                                      std::string_view want, size_t limit) {
  const char* raw = libarchive().entry_pathname(entry);
  std::string name = raw != nullptr ? raw : "";
  if (name != want) {
    return make_error(firmware_file_errc::bad_archive,
                      "firmware file: member " + std::string{want == manifest_member ? "1" : "2"} +
                          " must be '" + std::string{want} + "', found '" + name + "'");
  }
  if (auto err = check_plain_file(entry, name)) {
    return err;
  }
  auto size = libarchive().entry_size(entry);
  if (size < 0 || static_cast<uint64_t>(size) > limit) {
    return make_error(
        firmware_file_errc::bad_archive,
        "firmware file: '" + name + "' is larger than " + std::to_string(limit) + " bytes");
  }
  std::string out(static_cast<size_t>(size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    auto n = libarchive().read_data(a, out.data() + got, out.size() - got);
    if (n < 0) {
      return archive_failure(a, st, "reading '" + name + "'");
    }
    if (n == 0) {
      return make_error(firmware_file_errc::truncated,
                        "firmware file is truncated (inside '" + name + "')");
    }
    got += static_cast<size_t>(n);
  }
  return out;
}

caf::error read_resources(archive* a, const source_state& st, const firmware_manifest& m,
                          const firmware_read_options& opts) {
  std::set<std::string> done;
  while (true) {
    archive_entry* entry = nullptr;
    int rc = libarchive().read_next_header(a, &entry);
    if (rc == ARCHIVE_EOF) {
      break;
    }
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return archive_failure(a, st, "reading a resource header");
    }
    const char* raw = libarchive().entry_pathname(entry);
    std::string name = raw != nullptr ? raw : "";
    const auto* res = m.find(name);
    if (res == nullptr) {
      return make_error(firmware_file_errc::bad_archive,
                        "firmware file: member '" + name + "' is not a resource of the manifest");
    }
    if (!done.insert(name).second) {
      return make_error(firmware_file_errc::bad_archive,
                        "firmware file: resource '" + name + "' appears twice");
    }
    if (auto err = check_plain_file(entry, name)) {
      return err;
    }
    if (static_cast<uint64_t>(libarchive().entry_size(entry)) != res->size) {
      return make_error(firmware_file_errc::hash_mismatch,
                        "firmware file: resource '" + name + "' is " +
                            std::to_string(libarchive().entry_size(entry)) +
                            " bytes in the archive, the manifest says " +
                            std::to_string(res->size));
    }
    // Hash on a second thread while on_data writes, when there is a writer
    // and enough data for it to matter.
    constexpr uint64_t alongside_from = 4 << 20;
    std::optional<sha256_alongside> alongside;
    std::optional<sha256> inline_hash;
    if (opts.on_data && res->size >= alongside_from) {
      alongside.emplace();
    } else {
      inline_hash.emplace();
    }
    uint64_t total = 0;
    while (true) {
      const void* buf = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      rc = libarchive().read_data_block(a, &buf, &size, &offset);
      if (rc == ARCHIVE_EOF) {
        break;
      }
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        return archive_failure(a, st, "reading '" + name + "'");
      }
      if (offset < 0 || static_cast<uint64_t>(offset) != total) {
        return make_error(firmware_file_errc::bad_archive,
                          "firmware file: resource '" + name + "' is sparse");
      }
      total += size;
      if (total > res->size) {
        return make_error(
            firmware_file_errc::hash_mismatch,
            "firmware file: resource '" + name + "' is longer than the manifest says");
      }
      if (alongside && st.lent(buf, size)) {
        alongside->update_lent(buf, size, st.current.keep);
      } else if (alongside) {
        alongside->update(buf, size);
      } else {
        inline_hash->update(buf, size);
      }
      if (opts.on_data && size > 0) {
        if (auto err = opts.on_data(*res, static_cast<const char*>(buf), size)) {
          return err;
        }
      }
    }
    if (total != res->size) {
      return make_error(firmware_file_errc::truncated,
                        "firmware file is truncated (resource '" + name + "' has " +
                            std::to_string(total) + " of " + std::to_string(res->size) + " bytes)");
    }
    auto digest = alongside ? alongside->finish_hex() : inline_hash->finish_hex();
    if (digest != res->sha256) {
      return make_error(firmware_file_errc::hash_mismatch,
                        "firmware file: resource '" + name + "' has SHA-256 " + digest +
                            ", the manifest says " + res->sha256);
    }
    if (opts.on_resource_done) {
      if (auto err = opts.on_resource_done(*res)) {
        return err;
      }
    }
  }
  for (const auto& r : m.resources) {
    if (done.count(r.name) == 0) {
      return make_error(firmware_file_errc::truncated,
                        "firmware file: resource '" + r.name + "' is missing (truncated?)");
    }
  }
  return {};
}

// -- writing ------------------------------------------------------------------

caf::error write_failure(archive* a, const std::string& path) {
  return make_error(
      firmware_file_errc::io_error,
      path + ": " +
          (libarchive().error_string(a) != nullptr ? libarchive().error_string(a) : "failed"));
}

caf::error add_header(archive* a, const std::string& name, uint64_t size, const std::string& path) {
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> entry{libarchive().entry_new(),
                                                                 libarchive().entry_free};
  libarchive().entry_set_pathname(entry.get(), name.c_str());
  libarchive().entry_set_size(entry.get(), static_cast<la_int64_t>(size));
  libarchive().entry_set_filetype(entry.get(), AE_IFREG);
  libarchive().entry_set_perm(entry.get(), 0644);
  // Fixed times and owners: the same inputs give the same file.
  libarchive().entry_set_mtime(entry.get(), 0, 0);
  if (libarchive().write_header(a, entry.get()) != ARCHIVE_OK) {
    return write_failure(a, path);
  }
  return {};
}

caf::error add_bytes(archive* a, std::string_view data, const std::string& path) {
  if (libarchive().write_data(a, data.data(), data.size()) !=
      static_cast<la_ssize_t>(data.size())) {
    return write_failure(a, path);
  }
  return {};
}

caf::error add_file(archive* a, const std::string& name, const std::string& file, uint64_t size,
                    const std::string& path) {
  if (auto err = add_header(a, name, size, path)) {
    return err;
  }
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(firmware_file_errc::io_error, file + ": " + std::strerror(errno));
  }
  std::vector<char> buf(io_chunk);
  uint64_t total = 0;
  caf::error err;
  while (!err) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      err = make_error(firmware_file_errc::io_error, file + ": " + std::strerror(errno));
    } else if (n == 0) {
      break;
    } else {
      total += static_cast<uint64_t>(n);
      err = add_bytes(a, std::string_view{buf.data(), static_cast<size_t>(n)}, path);
    }
  }
  ::close(fd);
  if (!err && total != size) {
    err = make_error(firmware_file_errc::io_error, file + ": changed while it was being written");
  }
  return err;
}

caf::expected<std::string> hash_file(const std::string& file) {
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(firmware_file_errc::io_error, file + ": " + std::strerror(errno));
  }
  std::vector<char> buf(io_chunk);
  sha256 hash;
  while (true) {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      ::close(fd);
      return make_error(firmware_file_errc::io_error, file + ": " + std::strerror(errno));
    }
    if (n == 0) {
      break;
    }
    hash.update(buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  return hash.finish_hex();
}

}  // namespace

caf::expected<firmware_manifest> write_firmware_file(firmware_contents contents,
                                                     const secret_key& key,
                                                     const std::string& out_path) {
  auto& m = contents.manifest;
  m.resources.clear();
  for (const auto& [name, file] : contents.files) {
    if (!valid_resource_name(name)) {
      return make_error(firmware_file_errc::bad_manifest,
                        "resource name '" + name + "' is not a plain file name");
    }
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0) {
      return make_error(firmware_file_errc::io_error, file + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
      return make_error(firmware_file_errc::io_error, file + ": not a regular file");
    }
    auto digest = hash_file(file);
    if (!digest) {
      return digest.error();
    }
    m.resources.push_back({name, static_cast<uint64_t>(st.st_size), *digest});
  }
  auto text = format_firmware_manifest(m);
  if (!text) {
    return text.error();
  }
  auto sig = format_signature(sign(key, *text));
  if (auto err = load_libarchive()) {
    return err;
  }
  auto tmp = out_path + ".part";
  std::unique_ptr<archive, archive_write_closer> a{libarchive().write_new()};
  libarchive().write_set_format_pax_restricted(a.get());
  libarchive().write_add_filter_none(a.get());
  libarchive().write_set_bytes_in_last_block(a.get(), 1);
  if (libarchive().write_open_filename(a.get(), tmp.c_str()) != ARCHIVE_OK) {
    return write_failure(a.get(), tmp);
  }
  caf::error err = add_header(a.get(), std::string{manifest_member}, text->size(), tmp);
  if (!err) {
    err = add_bytes(a.get(), *text, tmp);
  }
  if (!err) {
    err = add_header(a.get(), std::string{signature_member}, sig.size() + 1, tmp);
  }
  if (!err) {
    err = add_bytes(a.get(), sig + "\n", tmp);
  }
  for (size_t i = 0; !err && i < contents.files.size(); ++i) {
    err = add_file(a.get(), contents.files[i].first, contents.files[i].second, m.resources[i].size,
                   tmp);
  }
  if (!err && libarchive().write_close(a.get()) != ARCHIVE_OK) {
    err = write_failure(a.get(), tmp);
  }
  if (!err && ::rename(tmp.c_str(), out_path.c_str()) != 0) {
    err = make_error(firmware_file_errc::io_error, out_path + ": " + std::strerror(errno));
  }
  if (err) {
    ::unlink(tmp.c_str());
    return err;
  }
  return m;
}

caf::expected<firmware_read_result> read_firmware(const firmware_source& source,
                                                  const firmware_read_options& opts) {
  firmware_lending_source lending = [&source]() -> caf::expected<firmware_chunk> {
    auto chunk = source();
    if (!chunk) {
      return chunk.error();
    }
    return firmware_chunk{*chunk, nullptr};
  };
  return read_firmware(lending, opts);
}

caf::expected<firmware_read_result> read_firmware(const firmware_lending_source& source,
                                                  const firmware_read_options& opts) {
  if (auto err = load_libarchive()) {
    return err;
  }
  source_state st{&source, {}, {}};
  std::unique_ptr<archive, archive_closer> a{libarchive().read_new()};
  // Only tar (ustar, pax, gnu): no compression, no other formats, no
  // seeking — the archive is read front to back as it arrives.
  libarchive().read_support_format_tar(a.get());
  if (libarchive().read_open(a.get(), &st, nullptr, read_callback, nullptr) != ARCHIVE_OK) {
    return archive_failure(a.get(), st, "opening");
  }
  auto entry = next_member(a.get(), st, "the manifest");
  if (!entry) {
    return entry.error();
  }
  auto text = read_small(a.get(), st, *entry, manifest_member, max_manifest_size);
  if (!text) {
    return text.error();
  }
  entry = next_member(a.get(), st, "the signature (manifest.sig)");
  if (!entry) {
    return entry.error();
  }
  auto sig_text = read_small(a.get(), st, *entry, signature_member, max_signature_member);
  if (!sig_text) {
    return sig_text.error();
  }
  auto sig = parse_signature(trim(*sig_text));
  if (!sig) {
    return make_error(firmware_file_errc::bad_signature,
                      "firmware file: manifest.sig is not a signature");
  }
  firmware_read_result result;
  if (opts.check_signature) {
    if (opts.trusted.empty()) {
      return make_error(firmware_file_errc::bad_signature,
                        "firmware file: no trusted keys to check its signature against");
    }
    auto idx = verify_any(opts.trusted, *text, *sig);
    if (!idx) {
      return make_error(firmware_file_errc::bad_signature,
                        "firmware file: the manifest's signature does not verify under any of "
                        "the " +
                            std::to_string(opts.trusted.size()) +
                            " trusted key(s) (wrong key, or the manifest was changed)");
    }
    result.signature_checked = true;
    result.key_index = *idx;
  }
  auto m = parse_firmware_manifest(*text);
  if (!m) {
    return m.error();
  }
  result.manifest = std::move(*m);
  if (opts.on_manifest) {
    if (auto err = opts.on_manifest(result.manifest)) {
      return err;
    }
  }
  if (auto err = read_resources(a.get(), st, result.manifest, opts)) {
    return err;
  }
  return result;
}

caf::expected<firmware_read_result> read_firmware_file(const std::string& path,
                                                       const firmware_read_options& opts) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error(firmware_file_errc::io_error, path + ": " + std::strerror(errno));
  }
  std::vector<char> buf(io_chunk);
  firmware_source source = [&]() -> caf::expected<std::string_view> {
    auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      return make_error(firmware_file_errc::io_error, path + ": " + std::strerror(errno));
    }
    return std::string_view{buf.data(), static_cast<size_t>(n)};
  };
  auto result = read_firmware(source, opts);
  ::close(fd);
  return result;
}

}  // namespace myelin::runtime
