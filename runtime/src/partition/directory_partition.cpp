// The host implementation of the application partition: a plain directory,
// nothing mounted; a factory reset empties it.
#include <filesystem>
#include <mutex>

#include "myelin/runtime/partition/app_partition.hpp"

namespace myelin::runtime {

namespace {

class directory_partition : public app_partition {
 public:
  explicit directory_partition(std::string dir) {
    status_.kind = "directory";
    status_.target = std::move(dir);
  }

  partition_status prepare() override {
    std::lock_guard<std::mutex> guard{mtx_};
    std::error_code ec;
    std::filesystem::create_directories(status_.target, ec);
    if (ec) {
      status_.outcome = partition_outcome::unavailable;
      status_.reason = "cannot create " + status_.target + ": " + ec.message();
      status_.durable = false;
    } else {
      status_.outcome = partition_outcome::directory;
      status_.reason.clear();
      status_.durable = true;
    }
    return status_;
  }

  caf::error erase() override {
    namespace fs = std::filesystem;
    std::lock_guard<std::mutex> guard{mtx_};
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(status_.target, ec)) {
      fs::remove_all(entry.path(), ec);
      if (ec) {
        return make_error(mount_errc::erase_failed,
                          "erase: cannot remove " + entry.path().string() + ": " + ec.message());
      }
    }
    if (ec) {
      return make_error(mount_errc::erase_failed, "erase " + status_.target + ": " + ec.message());
    }
    status_.erased = true;
    return {};
  }

  partition_status status() const override {
    std::lock_guard<std::mutex> guard{mtx_};
    return status_;
  }

 private:
  mutable std::mutex mtx_;
  partition_status status_;
};

}  // namespace

std::shared_ptr<app_partition> make_directory_partition(std::string dir) {
  return std::make_shared<directory_partition>(std::move(dir));
}

}  // namespace myelin::runtime
