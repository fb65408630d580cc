// Sequential writing of an image into a firmware slot (block device or file).
#include "myelin/runtime/firmware/firmware_slot.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "myelin/runtime/firmware/firmware_manifest.hpp"
#include "myelin/runtime/platform/signing.hpp"

namespace myelin::runtime {

namespace {

caf::error io_error(const std::string& path, const std::string& what) {
  return make_error(firmware_file_errc::io_error, "slot " + path + ": " + what);
}

constexpr uint64_t writeback_window = 8 << 20;

/// Keeps writeback going while the image arrives (decision 0063): each
/// completed 8 MiB window between `from` and `to` is handed to the disk at
/// once, and the writer waits for the window two before it, so at most about
/// three windows are dirty and the final fsync has little left to do. A
/// window on the disk is then dropped from the page cache (decision 0070):
/// an image does not push a small device's apps out of memory. Errors are
/// left to that fsync. Windows written directly (decision 0071) have nothing
/// dirty or cached, and these calls find nothing to do.
void start_writeback(int fd, uint64_t from, uint64_t to) {
  for (uint64_t w = from / writeback_window + 1; w <= to / writeback_window; ++w) {
    ::sync_file_range(fd, static_cast<off_t>((w - 1) * writeback_window), writeback_window,
                      SYNC_FILE_RANGE_WRITE);
    if (w >= 3) {
      auto done = static_cast<off_t>((w - 3) * writeback_window);
      ::sync_file_range(
          fd, done, writeback_window,
          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
      ::posix_fadvise(fd, done, writeback_window, POSIX_FADV_DONTNEED);
    }
  }
}

void close_quietly(int fd) {
  if (fd >= 0) {
    ::close(fd);
  }
}

/// The alignment of memory and of offsets and sizes that direct I/O needs on
/// `fd`; zeros when it has none. The kernel reports it through statx
/// (STATX_DIOALIGN: Linux 6.1 for regular files on ext4, f2fs and xfs, 6.11
/// for block devices); before that, a block device's is its logical block
/// size. A regular file whose file system reports nothing (tmpfs, an older
/// kernel) is written through the page cache.
std::pair<uint32_t, uint32_t> direct_alignment(int fd, bool block_device) {
  auto usable = [](uint32_t a) { return a > 0 && a <= (1u << 16) && (a & (a - 1)) == 0; };
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
      (stx.stx_mask & STATX_DIOALIGN) != 0) {
    if (usable(stx.stx_dio_mem_align) && usable(stx.stx_dio_offset_align)) {
      return {stx.stx_dio_mem_align, stx.stx_dio_offset_align};
    }
    return {0, 0};
  }
  int logical = 0;
  if (block_device && ::ioctl(fd, BLKSSZGET, &logical) == 0 &&
      usable(static_cast<uint32_t>(logical))) {
    return {static_cast<uint32_t>(logical), static_cast<uint32_t>(logical)};
  }
  return {0, 0};
}

}  // namespace

firmware_slot_writer::firmware_slot_writer(firmware_slot_writer&& other) noexcept {
  *this = std::move(other);
}

firmware_slot_writer& firmware_slot_writer::operator=(firmware_slot_writer&& other) noexcept {
  if (this != &other) {
    close_quietly(fd_);
    close_quietly(direct_fd_);
    fd_ = std::exchange(other.fd_, -1);
    direct_fd_ = std::exchange(other.direct_fd_, -1);
    direct_memory_align_ = other.direct_memory_align_;
    direct_offset_align_ = other.direct_offset_align_;
    regular_ = other.regular_;
    image_size_ = other.image_size_;
    written_ = other.written_;
    written_direct_ = other.written_direct_;
    path_ = std::move(other.path_);
  }
  return *this;
}

firmware_slot_writer::~firmware_slot_writer() {
  close_quietly(fd_);
  close_quietly(direct_fd_);
}

caf::expected<uint64_t> firmware_slot_writer::capacity_of(const std::string& path,
                                                          uint64_t file_capacity) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return file_capacity;
    }
    return io_error(path, std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) {
    return file_capacity;
  }
  if (!S_ISBLK(st.st_mode)) {
    return io_error(path, "neither a block device nor a regular file");
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return io_error(path, std::strerror(errno));
  }
  uint64_t size = 0;
  int rc = ::ioctl(fd, BLKGETSIZE64, &size);
  ::close(fd);
  if (rc != 0) {
    return io_error(path, std::string{"cannot read its size: "} + std::strerror(errno));
  }
  return size;
}

caf::expected<firmware_slot_writer> firmware_slot_writer::open(const std::string& path,
                                                               uint64_t image_size,
                                                               uint64_t file_capacity) {
  auto capacity = capacity_of(path, file_capacity);
  if (!capacity) {
    return capacity.error();
  }
  if (image_size > *capacity) {
    return make_error(firmware_file_errc::too_large,
                      "the root file system image (" + std::to_string(image_size) +
                          " bytes) does not fit slot " + path + " (" + std::to_string(*capacity) +
                          " bytes)");
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return io_error(path, std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  firmware_slot_writer w;
  w.fd_ = fd;
  w.regular_ = S_ISREG(st.st_mode);
  w.image_size_ = image_size;
  w.path_ = path;
  auto [memory_align, offset_align] = direct_alignment(fd, S_ISBLK(st.st_mode));
  if (offset_align > 0) {
    // A second descriptor, so that pieces that do not suit direct I/O can
    // still go through the page cache. Without it, everything does.
    w.direct_fd_ = ::open(path.c_str(), O_WRONLY | O_CLOEXEC | O_DIRECT);
    w.direct_memory_align_ = memory_align;
    w.direct_offset_align_ = offset_align;
  }
  return w;
}

caf::error firmware_slot_writer::write(const char* data, size_t size) {
  if (written_ + size > image_size_) {
    return make_error(firmware_file_errc::too_large,
                      "slot " + path_ + ": more data than announced");
  }
  auto before = written_;
  while (size > 0) {
    auto direct = direct_span(data, size);
    auto n = direct > 0 ? ::pwrite(direct_fd_, data, direct, static_cast<off_t>(written_))
                        : ::pwrite(fd_, data, size, static_cast<off_t>(written_));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EINVAL && direct > 0) {
      // The file system refused the alignment it reported: the rest of the
      // image goes through the page cache.
      close_quietly(std::exchange(direct_fd_, -1));
      continue;
    }
    if (n <= 0) {
      return io_error(path_, n == 0 ? std::string{"no space left"} : std::strerror(errno));
    }
    if (direct > 0) {
      written_direct_ += static_cast<uint64_t>(n);
    }
    data += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
  }
  start_writeback(fd_, before, written_);
  return {};
}

size_t firmware_slot_writer::direct_span(const char* data, size_t size) const {
  if (direct_fd_ < 0 || reinterpret_cast<uintptr_t>(data) % direct_memory_align_ != 0 ||
      written_ % direct_offset_align_ != 0) {
    return 0;
  }
  return size - size % direct_offset_align_;
}

caf::error firmware_slot_writer::finish() {
  if (written_ != image_size_) {
    return make_error(firmware_file_errc::truncated,
                      "slot " + path_ + ": only " + std::to_string(written_) + " of " +
                          std::to_string(image_size_) + " bytes arrived");
  }
  if (regular_ && ::ftruncate(fd_, static_cast<off_t>(image_size_)) != 0) {
    return io_error(path_, std::strerror(errno));
  }
  // One inode: this also makes the direct writes' allocations durable and
  // flushes the disk's write cache.
  if (::fsync(fd_) != 0) {
    return io_error(path_, std::string{"fsync: "} + std::strerror(errno));
  }
  close_quietly(std::exchange(direct_fd_, -1));
  int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) {
    return io_error(path_, std::strerror(errno));
  }
  return {};
}

caf::expected<bool> slot_holds_image(const std::string& path, uint64_t size,
                                     const std::string& sha256, const std::atomic<bool>* stop) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return io_error(path, std::strerror(errno));
  }
  runtime::sha256 h;
  std::vector<char> buf(1 << 20);
  uint64_t left = size;
  while (left > 0) {
    if (stop != nullptr && stop->load()) {
      ::close(fd);
      return io_error(path, "stopped");
    }
    auto n = ::read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      auto why = n == 0 ? std::string{"shorter than its image"} : std::strerror(errno);
      ::close(fd);
      return io_error(path, why);
    }
    h.update(buf.data(), static_cast<size_t>(n));
    left -= static_cast<uint64_t>(n);
  }
  // Read once: a slot image is not worth keeping in a small device's cache.
  ::posix_fadvise(fd, 0, static_cast<off_t>(size), POSIX_FADV_DONTNEED);
  ::close(fd);
  return h.finish_hex() == sha256;
}

}  // namespace myelin::runtime
