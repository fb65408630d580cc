// A firmware slot being written: a block device (the partition of slot a or b)
// or, in host mode, a regular file standing in for one.
#pragma once

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Writes an image into a slot from its first byte, sequentially.
class firmware_slot_writer {
 public:
  // -- constructors -------------------------------------------------------------

  firmware_slot_writer() = default;
  firmware_slot_writer(const firmware_slot_writer&) = delete;
  firmware_slot_writer& operator=(const firmware_slot_writer&) = delete;
  firmware_slot_writer(firmware_slot_writer&& other) noexcept;
  firmware_slot_writer& operator=(firmware_slot_writer&& other) noexcept;
  /// Closes the slot without syncing (an unfinished write is abandoned).
  ~firmware_slot_writer();

  /// Opens `path` for an image of `image_size` bytes. A block device's
  /// capacity is its size; a regular file (created if missing) has
  /// `file_capacity`. Errors: io_error (cannot open: missing device,
  /// permissions), too_large (the image does not fit) — both before any byte
  /// is written.
  static caf::expected<firmware_slot_writer> open(const std::string& path, uint64_t image_size,
                                                  uint64_t file_capacity);

  /// The capacity of the slot at `path` (block device size, or `file_capacity`
  /// for a regular or missing file). Errors: io_error.
  static caf::expected<uint64_t> capacity_of(const std::string& path, uint64_t file_capacity);

  // -- writing --------------------------------------------------------------------

  /// Appends `size` bytes. Errors: io_error (short write, ENOSPC, EIO),
  /// too_large (more than announced at open).
  caf::error write(const char* data, size_t size);

  /// Checks that the whole image arrived, cuts a regular file to the image's
  /// size, and syncs it to stable storage. Errors: io_error, truncated.
  caf::error finish();

  uint64_t written() const { return written_; }
  const std::string& path() const { return path_; }

 private:
  int fd_ = -1;
  bool regular_ = false;
  uint64_t image_size_ = 0;
  uint64_t written_ = 0;
  std::string path_;
};

}  // namespace myelin::runtime
