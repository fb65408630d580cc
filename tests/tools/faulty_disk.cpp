// faulty_disk: a FUSE file system with one file, `disk`, that passes reads
// and writes through to a backing file — until `<backing>.fail` exists; then
// every read past the first 4 KiB fails with EIO, as a dying SD card's would.
// A loop device over `<mountpoint>/disk` then gives the kernel real I/O
// errors (this machine's kernel has no device-mapper `error` target).
//
// Usage: faulty_disk BACKING_FILE MOUNTPOINT   (runs in the foreground; stop
// it with SIGTERM or `fusermount3 -u MOUNTPOINT`)
#define FUSE_USE_VERSION 31
#include <fuse.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace {

std::string backing;
int backing_fd = -1;

bool failing() {
  return ::access((backing + ".fail").c_str(), F_OK) == 0;
}

int fd_getattr(const char* path, struct stat* st, struct fuse_file_info*) {
  std::memset(st, 0, sizeof(*st));
  if (std::strcmp(path, "/") == 0) {
    st->st_mode = S_IFDIR | 0755;
    st->st_nlink = 2;
    return 0;
  }
  if (std::strcmp(path, "/disk") != 0) {
    return -ENOENT;
  }
  struct stat b {};
  if (::fstat(backing_fd, &b) != 0) {
    return -errno;
  }
  st->st_mode = S_IFREG | 0600;
  st->st_nlink = 1;
  st->st_size = b.st_size;
  return 0;
}

int fd_readdir(const char*, void* buf, fuse_fill_dir_t fill, off_t, struct fuse_file_info*,
               enum fuse_readdir_flags) {
  fill(buf, ".", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "..", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  fill(buf, "disk", nullptr, 0, static_cast<fuse_fill_dir_flags>(0));
  return 0;
}

int fd_open(const char* path, struct fuse_file_info* fi) {
  if (std::strcmp(path, "/disk") != 0) {
    return -ENOENT;
  }
  fi->direct_io = 1;  // every read reaches us: no page cache in between
  return 0;
}

int fd_read(const char*, char* buf, size_t size, off_t off, struct fuse_file_info*) {
  if (failing() && off + static_cast<off_t>(size) > 4096) {
    return -EIO;
  }
  auto n = ::pread(backing_fd, buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}

int fd_write(const char*, const char* buf, size_t size, off_t off, struct fuse_file_info*) {
  if (failing()) {
    return -EIO;
  }
  auto n = ::pwrite(backing_fd, buf, size, off);
  return n < 0 ? -errno : static_cast<int>(n);
}

int fd_fsync(const char*, int, struct fuse_file_info*) {
  return ::fsync(backing_fd) == 0 ? 0 : -errno;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: faulty_disk BACKING_FILE MOUNTPOINT\n");
    return 2;
  }
  backing = argv[1];
  backing_fd = ::open(argv[1], O_RDWR | O_CLOEXEC);
  if (backing_fd < 0) {
    std::fprintf(stderr, "faulty_disk: %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  fuse_operations ops{};
  ops.getattr = fd_getattr;
  ops.readdir = fd_readdir;
  ops.open = fd_open;
  ops.read = fd_read;
  ops.write = fd_write;
  ops.fsync = fd_fsync;
  char prog[] = "faulty_disk";
  char fg[] = "-f";
  char single[] = "-s";
  char* fargv[] = {prog, fg, single, argv[2], nullptr};
  return fuse_main(4, fargv, &ops, nullptr);
}
