// Reading /proc/self/mountinfo with libmount, and finding mounts in it.
#include "myelin/runtime/partition/mount_table.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include <libmount/libmount.h>
#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::runtime {

namespace {

struct table_deleter {
  void operator()(libmnt_table* t) const { mnt_unref_table(t); }
};
struct iter_deleter {
  void operator()(libmnt_iter* i) const { mnt_free_iter(i); }
};

std::string str(const char* s) {
  return s == nullptr ? std::string{} : std::string{s};
}

bool has_option(const char* optstr, const char* name) {
  return optstr != nullptr && mnt_optstr_get_option(optstr, name, nullptr, nullptr) == 0;
}

// libmount counts malformed lines here; returning 1 tells it to skip the line.
thread_local size_t parse_errors = 0;

int count_bad_line(libmnt_table*, const char*, int) {
  ++parse_errors;
  return 1;
}

}  // namespace

std::string to_string(mount_errc x) {
  switch (x) {
    case mount_errc::unreadable_table:
      return "unreadable_table";
    case mount_errc::bad_config:
      return "bad_config";
    case mount_errc::mount_failed:
      return "mount_failed";
    case mount_errc::mount_refused:
      return "mount_refused";
    case mount_errc::remount_failed:
      return "remount_failed";
    case mount_errc::unmount_failed:
      return "unmount_failed";
    case mount_errc::mkfs_missing:
      return "mkfs_missing";
    case mount_errc::format_failed:
      return "format_failed";
    case mount_errc::erase_failed:
      return "erase_failed";
  }
  return "mount_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(mount_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("mount"),
                    caf::make_message(std::move(context))};
}

std::string resolve_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  auto resolved = fs::weakly_canonical(fs::path{path}, ec);
  auto out = (ec ? fs::path{path}.lexically_normal() : resolved).string();
  while (out.size() > 1 && out.back() == '/') {
    out.pop_back();
  }
  return out;
}

caf::expected<mount_table> mount_table::load(const std::string& path) {
  // mnt_new_table_from_file() gives no reason when it fails: check first.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(mount_errc::unreadable_table, path + ": " + std::strerror(errno));
  }
  std::unique_ptr<libmnt_table, table_deleter> tb{mnt_new_table()};
  if (!tb) {
    return make_error(mount_errc::unreadable_table, path + ": out of memory");
  }
  parse_errors = 0;
  mnt_table_set_parser_errcb(tb.get(), count_bad_line);
  if (int rc = mnt_table_parse_file(tb.get(), path.c_str()); rc < 0) {
    return make_error(mount_errc::unreadable_table, path + ": " + std::strerror(-rc));
  }
  mount_table out;
  out.bad_lines_ = parse_errors;
  std::unique_ptr<libmnt_iter, iter_deleter> it{mnt_new_iter(MNT_ITER_FORWARD)};
  libmnt_fs* fs = nullptr;
  while (mnt_table_next_fs(tb.get(), it.get(), &fs) == 0) {
    mount_entry e;
    e.id = mnt_fs_get_id(fs);
    e.parent_id = mnt_fs_get_parent_id(fs);
    e.devno = mnt_fs_get_devno(fs);
    e.root = str(mnt_fs_get_root(fs));
    e.target = str(mnt_fs_get_target(fs));
    e.source = str(mnt_fs_get_source(fs));
    e.fstype = str(mnt_fs_get_fstype(fs));
    e.vfs_options = str(mnt_fs_get_vfs_options(fs));
    e.fs_options = str(mnt_fs_get_fs_options(fs));
    e.read_only =
        has_option(mnt_fs_get_vfs_options(fs), "ro") || has_option(mnt_fs_get_fs_options(fs), "ro");
    if (e.target.empty()) {
      ++out.bad_lines_;
      continue;
    }
    out.entries_.push_back(std::move(e));
  }
  return out;
}

std::optional<mount_entry> mount_table::find_by_target(const std::string& target) const {
  if (target.empty()) {
    return std::nullopt;
  }
  auto wanted = resolve_path(target);
  for (auto i = entries_.rbegin(); i != entries_.rend(); ++i) {
    if (i->target == wanted || i->target == target) {
      return *i;
    }
  }
  return std::nullopt;
}

std::vector<mount_entry> mount_table::find_by_source(const std::string& device) const {
  std::vector<mount_entry> out;
  if (device.empty()) {
    return out;
  }
  auto resolved = resolve_path(device);
  dev_t devno = 0;
  struct stat st {};
  if (::stat(device.c_str(), &st) == 0 && S_ISBLK(st.st_mode)) {
    devno = st.st_rdev;
  }
  for (const auto& e : entries_) {
    bool same =
        e.source == device || e.source == resolved ||
        (!e.source.empty() && e.source.front() == '/' && resolve_path(e.source) == resolved) ||
        (devno != 0 && e.devno == devno);
    if (same) {
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace myelin::runtime
