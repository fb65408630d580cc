// Durable replacement of a small file (see durable_file.hpp).
#include "myelin/runtime/platform/durable_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <caf/sec.hpp>

namespace myelin::runtime {

namespace {

caf::error failed(const std::string& what) {
  return caf::make_error(caf::sec::runtime_error, what + ": " + std::strerror(errno));
}

}  // namespace

caf::error write_file_durably(const std::string& path, std::string_view data, unsigned mode) {
  namespace fs = std::filesystem;
  auto dir = fs::path{path}.parent_path().string();
  std::error_code ec;
  fs::create_directories(dir.empty() ? "." : dir, ec);
  auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return failed("open " + tmp);
  }
  while (!data.empty()) {
    auto n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      auto err = failed("write " + tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (::fsync(fd) != 0) {
    auto err = failed("fsync " + tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return err;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = failed("rename " + tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    return failed("open " + dir);
  }
  int rc = ::fsync(dfd);
  ::close(dfd);
  return rc == 0 ? caf::error{} : failed("fsync " + dir);
}

}  // namespace myelin::runtime
