// The manifest of a `.fw` firmware file: metadata and each resource's name, size
// and SHA-256, as strict `key=value` text (docs/reference/firmware-format.md).
//
// Text form, one field per line, '\n' line ends, in this order when written:
//   myelin-firmware=1
//   meta-product=P            (required, like meta-version, meta-platform,
//   meta-version=V             meta-architecture; the other meta-* fields are
//   meta-platform=X            optional and empty when missing)
//   meta-architecture=Y
//   meta-uuid=... meta-author=... meta-description=... meta-vcs-identifier=... meta-misc=...
//   resource=rootfs.img 268435456 <64 lowercase hex digits>
// The parser refuses unknown and duplicate fields, a missing format line,
// values with control characters or longer than 1024 bytes, resource names that
// are not plain file names (no '/', no "..", no leading '.'), sizes that are not
// decimal numbers up to 2^48, hashes that are not 64 lowercase hex digits, and a
// manifest without `rootfs.img`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Errors of firmware files (manifest, archive, verification).
enum class firmware_file_errc : uint8_t {
  /// The manifest text is malformed (the context names the line and why).
  bad_manifest = 1,
  /// The archive's structure is wrong: member order, types, names, unknown members.
  bad_archive,
  /// The archive ended before its last member did.
  truncated,
  /// No valid signature under any trusted key, or none at all.
  bad_signature,
  /// A resource's size or SHA-256 differs from the manifest.
  hash_mismatch,
  /// The firmware is for another device (platform or architecture).
  wrong_target,
  /// The firmware does not fit: a resource is larger than its destination.
  too_large,
  /// Reading or writing a file or slot failed.
  io_error,
  /// Older than the running firmware, or another product's (anti-rollback).
  rollback,
};

std::string to_string(firmware_file_errc x);

caf::error make_error(firmware_file_errc x, std::string context);

/// One resource of a firmware file.
struct firmware_resource {
  std::string name;
  uint64_t size = 0;
  /// 64 lowercase hex digits.
  std::string sha256;
};

/// The parsed manifest.
struct firmware_manifest {
  std::string product;
  std::string version;
  std::string platform;
  std::string architecture;
  std::string uuid;
  std::string author;
  std::string description;
  std::string vcs_identifier;
  std::string misc;
  std::vector<firmware_resource> resources;

  /// The resource called `name`, or nullptr.
  const firmware_resource* find(std::string_view name) const;

  /// The sum of the resources' sizes.
  uint64_t total_size() const;
};

/// The resource every firmware file must carry: the root file system image.
inline constexpr std::string_view rootfs_resource = "rootfs.img";

/// The largest manifest accepted (bytes).
inline constexpr size_t max_manifest_size = 64 * 1024;

/// The largest resource size a manifest may declare (2^48 bytes).
inline constexpr uint64_t max_resource_size = uint64_t{1} << 48;

/// Parses manifest text strictly. Errors: bad_manifest.
caf::expected<firmware_manifest> parse_firmware_manifest(std::string_view text);

/// The manifest as text; parse_firmware_manifest() reads it back. Errors:
/// bad_manifest when a field could not be read back (control characters,
/// a bad resource name, a missing required field).
caf::expected<std::string> format_firmware_manifest(const firmware_manifest& m);

/// True if `name` may name a resource (plain file name, see above).
bool valid_resource_name(std::string_view name);

/// The KV keys of a slot's metadata (`<slot>.nerves_fw_product` ...) and their
/// values from the manifest.
std::vector<std::pair<std::string, std::string>> slot_metadata(const firmware_manifest& m,
                                                               const std::string& slot);

}  // namespace myelin::runtime
