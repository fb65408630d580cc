// Streaming reading and writing of `.fw` archives (tar, see tar_stream.hpp).
#include "myelin/runtime/firmware/firmware_archive.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <set>

#include "firmware/sha256_alongside.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/tar_stream.hpp"

namespace myelin::runtime {

namespace {

constexpr std::string_view manifest_member = "manifest";
constexpr std::string_view signature_member = "manifest.sig";
constexpr size_t max_signature_member = 256;
constexpr size_t io_chunk = 1 << 20;

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

/// The reader over a lending source, keeping the source's own error.
struct archive_input {
  explicit archive_input(const firmware_lending_source& source)
      : reader{[this, &source](tar_reader::chunk& out) {
          auto chunk = source();
          if (!chunk) {
            error = chunk.error();
            return false;
          }
          out.data = chunk->data;
          out.keep = std::move(chunk->keep);
          return true;
        }} {}

  /// Our error for a reader status other than ok and end: the source's own
  /// error first, then "truncated", else a structural error.
  caf::error failure(tar_status status, const std::string& what) const {
    if (status == tar_status::source_failed) {
      return error ? error : make_error(firmware_file_errc::io_error, "the firmware source failed");
    }
    if (status == tar_status::truncated) {
      return make_error(firmware_file_errc::truncated,
                        "firmware file is truncated (" + what + ": " + reader.message() + ")");
    }
    return make_error(firmware_file_errc::bad_archive,
                      "firmware file: " + what + ": " + reader.message());
  }

  caf::error error;
  tar_reader reader;
};

/// The next member's header.
caf::expected<tar_member> next_member(archive_input& in, const std::string& expecting) {
  tar_member m;
  auto st = in.reader.next(m);
  if (st == tar_status::end) {
    return make_error(firmware_file_errc::truncated,
                      "firmware file ends where " + expecting + " should be (truncated?)");
  }
  if (st != tar_status::ok) {
    return in.failure(st, "reading the header of " + expecting);
  }
  return m;
}

caf::error check_plain_file(const tar_member& m) {
  if (m.type != '0' || m.has_link) {
    return make_error(firmware_file_errc::bad_archive,
                      "firmware file: member '" + m.name + "' is not a regular file");
  }
  if (m.sparse) {
    return make_error(firmware_file_errc::bad_archive,
                      "firmware file: member '" + m.name + "' is sparse");
  }
  return {};
}

/// Reads a small member completely.
caf::expected<std::string> read_small(archive_input& in, const tar_member& m, std::string_view want,
                                      size_t limit) {
  if (m.name != want) {
    return make_error(firmware_file_errc::bad_archive,
                      "firmware file: member " + std::string{want == manifest_member ? "1" : "2"} +
                          " must be '" + std::string{want} + "', found '" + m.name + "'");
  }
  if (auto err = check_plain_file(m)) {
    return err;
  }
  if (m.size > limit) {
    return make_error(
        firmware_file_errc::bad_archive,
        "firmware file: '" + m.name + "' is larger than " + std::to_string(limit) + " bytes");
  }
  std::string out;
  out.reserve(static_cast<size_t>(m.size));
  while (true) {
    std::string_view piece;
    const std::shared_ptr<const void>* keep = nullptr;
    auto st = in.reader.data(piece, keep);
    if (st == tar_status::end) {
      return out;
    }
    if (st != tar_status::ok) {
      return in.failure(st, "reading '" + m.name + "'");
    }
    out.append(piece);
  }
}

caf::error read_resources(archive_input& in, const firmware_manifest& m,
                          const firmware_read_options& opts) {
  std::set<std::string> done;
  while (true) {
    tar_member member;
    auto st = in.reader.next(member);
    if (st == tar_status::end) {
      break;
    }
    if (st != tar_status::ok) {
      return in.failure(st, "reading a resource header");
    }
    const auto& name = member.name;
    const auto* res = m.find(name);
    if (res == nullptr) {
      return make_error(firmware_file_errc::bad_archive,
                        "firmware file: member '" + name + "' is not a resource of the manifest");
    }
    if (!done.insert(name).second) {
      return make_error(firmware_file_errc::bad_archive,
                        "firmware file: resource '" + name + "' appears twice");
    }
    if (auto err = check_plain_file(member)) {
      return err;
    }
    if (member.size != res->size) {
      return make_error(firmware_file_errc::hash_mismatch,
                        "firmware file: resource '" + name + "' is " + std::to_string(member.size) +
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
    while (true) {
      std::string_view piece;
      const std::shared_ptr<const void>* keep = nullptr;
      st = in.reader.data(piece, keep);
      if (st == tar_status::end) {
        break;
      }
      if (st != tar_status::ok) {
        return in.failure(st, "reading '" + name + "'");
      }
      if (alongside && keep != nullptr) {
        alongside->update_lent(piece.data(), piece.size(), *keep);
      } else if (alongside) {
        alongside->update(piece.data(), piece.size());
      } else {
        inline_hash->update(piece.data(), piece.size());
      }
      if (opts.on_data && !piece.empty()) {
        if (auto err = opts.on_data(*res, piece.data(), piece.size())) {
          return err;
        }
      }
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

/// Writes all of `data` to `fd`.
caf::error write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      return make_error(firmware_file_errc::io_error, path + ": " + std::strerror(errno));
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

caf::error add_member(int fd, const std::string& name, std::string_view data,
                      const std::string& path) {
  if (auto err = write_all(fd, tar_file_header(name, data.size()), path)) {
    return err;
  }
  if (auto err = write_all(fd, data, path)) {
    return err;
  }
  return write_all(fd, std::string(tar_padding(data.size()), '\0'), path);
}

caf::error add_file(int out, const std::string& name, const std::string& file, uint64_t size,
                    const std::string& path) {
  if (auto err = write_all(out, tar_file_header(name, size), path)) {
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
    } else if (total + static_cast<uint64_t>(n) > size) {
      err = make_error(firmware_file_errc::io_error, file + ": changed while it was being written");
    } else {
      total += static_cast<uint64_t>(n);
      err = write_all(out, std::string_view{buf.data(), static_cast<size_t>(n)}, path);
    }
  }
  ::close(fd);
  if (!err && total != size) {
    err = make_error(firmware_file_errc::io_error, file + ": changed while it was being written");
  }
  if (!err) {
    err = write_all(out, std::string(tar_padding(size), '\0'), path);
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
  auto tmp = out_path + ".part";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return make_error(firmware_file_errc::io_error, tmp + ": " + std::strerror(errno));
  }
  caf::error err = add_member(fd, std::string{manifest_member}, *text, tmp);
  if (!err) {
    err = add_member(fd, std::string{signature_member}, sig + "\n", tmp);
  }
  for (size_t i = 0; !err && i < contents.files.size(); ++i) {
    err = add_file(fd, contents.files[i].first, contents.files[i].second, m.resources[i].size, tmp);
  }
  if (!err) {
    err = write_all(fd, tar_end(), tmp);
  }
  if (::close(fd) != 0 && !err) {
    err = make_error(firmware_file_errc::io_error, tmp + ": " + std::strerror(errno));
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
  archive_input in{source};
  auto entry = next_member(in, "the manifest");
  if (!entry) {
    return entry.error();
  }
  auto text = read_small(in, *entry, manifest_member, max_manifest_size);
  if (!text) {
    return text.error();
  }
  entry = next_member(in, "the signature (manifest.sig)");
  if (!entry) {
    return entry.error();
  }
  auto sig_text = read_small(in, *entry, signature_member, max_signature_member);
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
  if (auto err = read_resources(in, result.manifest, opts)) {
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
