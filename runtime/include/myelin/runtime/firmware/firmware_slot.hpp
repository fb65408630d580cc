// A firmware slot being written: a block device (the partition of slot a or b)
// or, in host mode, a regular file standing in for one.
#pragma once

#include <atomic>

#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

namespace myelin::runtime {

/// Writes an image into a slot from its first byte, sequentially.
///
/// Pieces whose address, offset and size suit the slot's direct-I/O
/// alignment go straight to the disk (`O_DIRECT`): no copy into the page
/// cache and nothing left cached (decision 0071). Everything else — a
/// misaligned piece, the image's last bytes, a file system without direct
/// I/O — goes through the page cache, written back in windows as it arrives
/// (decisions 0063 and 0070). Either way finish() decides durability.
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
  /// How much of written() went around the page cache.
  uint64_t written_direct() const { return written_direct_; }
  const std::string& path() const { return path_; }

 private:
  /// How many of the `size` bytes at `data` may be written directly at the
  /// current offset (0: none).
  size_t direct_span(const char* data, size_t size) const;

  int fd_ = -1;
  /// The slot opened with O_DIRECT (-1: no direct I/O), and its alignments
  /// of memory and of file offsets and sizes.
  int direct_fd_ = -1;
  uint32_t direct_memory_align_ = 0;
  uint32_t direct_offset_align_ = 0;
  uint64_t written_direct_ = 0;
  bool regular_ = false;
  uint64_t image_size_ = 0;
  uint64_t written_ = 0;
  std::string path_;
};

/// Whether the first `size` bytes of slot `path` hash to `sha256` (64 hex
/// digits): what revert checks before choosing a slot. Errors: io_error (the
/// slot cannot be read, or is shorter than `size`: reported as a mismatch
/// by the caller). With `stop`, reading ends early when it turns true
/// (io_error "stopped").
caf::expected<bool> slot_holds_image(const std::string& path, uint64_t size,
                                     const std::string& sha256,
                                     const std::atomic<bool>* stop = nullptr);

}  // namespace myelin::runtime
