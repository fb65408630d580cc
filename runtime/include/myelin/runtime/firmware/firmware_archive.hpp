// Reading and writing `.fw` firmware files: a POSIX pax/ustar archive (tar_stream.hpp)
// whose members are, in this order, `manifest`, `manifest.sig` (the base64
// ed25519 signature of the manifest's bytes) and then each resource of the
// manifest exactly once (docs/reference/firmware-format.md, decision 0060).
//
// Reading is streaming: the archive is pulled from a source function chunk by
// chunk, the signature is checked from the first two members before any
// resource byte is handed on, and each resource is hashed as it passes and
// compared with the manifest at its end. Nothing is kept in memory but the
// manifest and one header block: resource bytes are handed on from the
// source's own chunks.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "myelin/runtime/firmware/firmware_manifest.hpp"
#include "myelin/runtime/platform/signing.hpp"

namespace myelin::runtime {

/// What a firmware file is made of when it is created.
struct firmware_contents {
  /// Metadata; `resources` is filled by write_firmware_file() from `files`.
  firmware_manifest manifest;
  /// Resource name and the file holding it (rootfs.img first by convention).
  std::vector<std::pair<std::string, std::string>> files;
};

/// Hashes the files, writes the signed manifest and streams the files into a
/// new archive at `out_path` (replaced only when complete). Returns the manifest
/// as written. Errors: bad_manifest, io_error.
caf::expected<firmware_manifest> write_firmware_file(firmware_contents contents,
                                                     const secret_key& key,
                                                     const std::string& out_path);

/// The next chunk of an archive: a view valid until the next call; empty at
/// the end. An error ends reading with that error.
using firmware_source = std::function<caf::expected<std::string_view>()>;

/// A chunk a source lends: its bytes stay valid as long as `keep`, or a copy
/// of it, lives — the source reuses the memory only after the last copy is
/// gone. Without `keep`, the bytes are valid until the next call (as with a
/// firmware_source). An empty `data` is the end.
struct firmware_chunk {
  std::string_view data;
  std::shared_ptr<const void> keep;
};

/// A source that lends its chunks (see firmware_chunk).
using firmware_lending_source = std::function<caf::expected<firmware_chunk>()>;

/// How read_firmware() checks and hands on what it reads.
struct firmware_read_options {
  /// Keys the manifest's signature must verify under.
  std::vector<public_key> trusted;
  /// False: the signature member must still be present and well-formed, but
  /// is not checked (`myelin fw info` without keys).
  bool check_signature = true;
  /// Called once the manifest is parsed and its signature verified, before
  /// any resource byte; an error stops reading with that error.
  std::function<caf::error(const firmware_manifest&)> on_manifest;
  /// Called with each piece of a resource, in order; an error stops reading.
  std::function<caf::error(const firmware_resource&, const char* data, size_t size)> on_data;
  /// Called when a resource's size and hash have been verified.
  std::function<caf::error(const firmware_resource&)> on_resource_done;
};

/// What read_firmware() found.
struct firmware_read_result {
  firmware_manifest manifest;
  /// Whether the signature was verified, and under which trusted key.
  bool signature_checked = false;
  size_t key_index = 0;
};

/// Reads a whole firmware archive from `source`, verifying its structure,
/// signature, sizes and hashes. Errors: bad_archive, truncated, bad_manifest,
/// bad_signature, hash_mismatch, or whatever a callback or the source returns.
caf::expected<firmware_read_result> read_firmware(const firmware_source& source,
                                                  const firmware_read_options& opts);

/// read_firmware() on a source that lends its chunks: a large resource is
/// hashed on a second thread straight from the lent memory while on_data
/// runs, instead of from a copy (decision 0067).
caf::expected<firmware_read_result> read_firmware(const firmware_lending_source& source,
                                                  const firmware_read_options& opts);

/// read_firmware() on a file. Errors: io_error and those of read_firmware().
caf::expected<firmware_read_result> read_firmware_file(const std::string& path,
                                                       const firmware_read_options& opts);

}  // namespace myelin::runtime
