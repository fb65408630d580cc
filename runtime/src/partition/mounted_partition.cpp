// The real application partition: a block device mounted read-write with
// libmount; remounted read-write if it is read-only; unmounted, formatted and
// mounted again if it cannot be mounted; a tmpfs in its place if even that
// fails. Factory reset wipes its superblock, so the next boot reformats it.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <libmount/libmount.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/partition/app_partition.hpp"
#include "partition/format_device.hpp"

#include <blkid/blkid.h>

namespace myelin::runtime {

namespace {

struct context_deleter {
  void operator()(libmnt_context* c) const { mnt_free_context(c); }
};
using context_ptr = std::unique_ptr<libmnt_context, context_deleter>;

context_ptr new_context() {
  context_ptr cxt{mnt_new_context()};
  if (cxt) {
    // No /sbin/mount.<type> helpers and no utab: the same path every time.
    mnt_context_disable_helpers(cxt.get(), 1);
    mnt_context_disable_mtab(cxt.get(), 1);
  }
  return cxt;
}

/// mount(2) errors that say the file system on the device is missing or
/// broken, which a new one fixes: blank or bad superblock (EINVAL), corrupted
/// (EUCLEAN, EBADMSG for a bad checksum), unreadable metadata (EIO), a file
/// system larger than the device (EFBIG, EOVERFLOW). Anything else (no
/// permission, no such device or directory, busy, type unknown to the kernel,
/// read-only medium, ...) would fail the same way after formatting, or destroy
/// data in use elsewhere.
bool formatting_may_help(int err) {
  switch (err) {
    case EINVAL:
    case EUCLEAN:
    case EBADMSG:
    case EIO:
    case EFBIG:
    case EOVERFLOW:
      return true;
    default:
      return false;
  }
}

/// The errno of the last mount(2) that failed (0: none, or not a syscall).
thread_local int last_mount_errno = 0;

/// What libblkid finds on the device: its superblock's type, nothing
/// (blank, wiped by a factory reset, or a superblock too damaged to
/// recognise), or a read error.
struct probe_result {
  bool readable = false;
  std::string type;
  std::string error;
};

probe_result probe_filesystem(const std::string& device) {
  probe_result r;
  blkid_probe pr = blkid_new_probe_from_filename(device.c_str());
  if (pr == nullptr) {
    r.error = std::string{"cannot open it: "} + std::strerror(errno);
    return r;
  }
  blkid_probe_enable_superblocks(pr, 1);
  blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
  errno = 0;
  int rc = blkid_do_safeprobe(pr);
  if (rc == 0) {
    const char* type = nullptr;
    if (blkid_probe_lookup_value(pr, "TYPE", &type, nullptr) == 0 && type != nullptr) {
      r.type = type;
    }
    r.readable = true;
  } else if (rc == 1) {
    r.readable = true;  // no signature at all
  } else if (rc == -2) {
    r.readable = true;
    r.type = "(ambivalent: several signatures)";
  } else {
    r.error = errno != 0 ? std::strerror(errno) : "libblkid could not read it";
  }
  blkid_free_probe(pr);
  return r;
}

/// The outcome of a libmount call as an error (none on success). `what` says
/// what was tried; a mount_failed that formatting cannot fix becomes
/// mount_refused.
caf::error outcome(libmnt_context* cxt, int rc, const std::string& what, mount_errc errc) {
  if (rc == 0) {
    return {};
  }
  char buf[512] = {0};
  mnt_context_get_excode(cxt, rc, buf, sizeof(buf));
  bool syscall = mnt_context_syscall_called(cxt) != 0;
  int err = syscall ? mnt_context_get_syscall_errno(cxt) : rc < 0 ? -rc : 0;
  last_mount_errno = syscall ? err : 0;
  std::string why = buf[0] != '\0' ? std::string{buf}
                    : err != 0     ? std::string{std::strerror(err)}
                                   : "libmount error " + std::to_string(rc);
  if (err != 0 && why.find(std::strerror(err)) == std::string::npos) {
    why += " (" + std::string{std::strerror(err)} + ")";
  }
  // Only the kernel's verdict on the device can justify formatting it.
  if (errc == mount_errc::mount_failed && !(syscall && formatting_may_help(err))) {
    errc = mount_errc::mount_refused;
  }
  return make_error(errc, what + ": " + why);
}

caf::error lm_mount(const std::string& source, const std::string& target, const std::string& fstype,
                    const std::string& options) {
  auto cxt = new_context();
  if (!cxt) {
    return make_error(mount_errc::mount_refused, "libmount: out of memory");
  }
  mnt_context_set_source(cxt.get(), source.c_str());
  mnt_context_set_target(cxt.get(), target.c_str());
  mnt_context_set_fstype(cxt.get(), fstype.c_str());
  mnt_context_set_options(cxt.get(), options.c_str());
  int rc = mnt_context_mount(cxt.get());
  return outcome(cxt.get(), rc, "mount " + source + " (" + fstype + ") on " + target,
                 mount_errc::mount_failed);
}

caf::error lm_remount_rw(const std::string& target) {
  auto cxt = new_context();
  if (!cxt) {
    return make_error(mount_errc::remount_failed, "libmount: out of memory");
  }
  mnt_context_set_target(cxt.get(), target.c_str());
  mnt_context_set_options(cxt.get(), "remount,rw");
  int rc = mnt_context_mount(cxt.get());
  return outcome(cxt.get(), rc, "remount " + target + " read-write", mount_errc::remount_failed);
}

caf::error lm_unmount(const std::string& target, bool lazy) {
  auto cxt = new_context();
  if (!cxt) {
    return make_error(mount_errc::unmount_failed, "libmount: out of memory");
  }
  mnt_context_set_target(cxt.get(), target.c_str());
  if (lazy) {
    mnt_context_enable_lazy(cxt.get(), 1);
  }
  int rc = mnt_context_umount(cxt.get());
  return outcome(cxt.get(), rc, std::string{lazy ? "lazy " : ""} + "unmount " + target,
                 mount_errc::unmount_failed);
}

/// Zeroes the first MiB of the device (every superblock of ext4, vfat and
/// f2fs lives there), flushes it, and drops the cached blocks.
caf::error wipe_superblock(const std::string& device) {
  auto fail = [&device](const std::string& why) {
    return make_error(mount_errc::erase_failed, "erase " + device + ": " + why);
  };
  int fd = ::open(device.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(std::strerror(errno));
  }
  struct stat st {};
  ::fstat(fd, &st);
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (S_ISBLK(st.st_mode)) {
    ::ioctl(fd, BLKGETSIZE64, &size);
  }
  std::vector<char> zeros(1 << 20, 0);
  auto len = static_cast<size_t>(std::min<uint64_t>(size, zeros.size()));
  size_t done = 0;
  while (done < len) {
    auto n = ::pwrite(fd, zeros.data() + done, len - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      auto why = std::string{"write: "} + std::strerror(errno);
      ::close(fd);
      return fail(why);
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto why = std::string{"fsync: "} + std::strerror(errno);
    ::close(fd);
    return fail(why);
  }
  if (S_ISBLK(st.st_mode)) {
    ::ioctl(fd, BLKFLSBUF, 0);
  }
  ::close(fd);
  return {};
}

class mounted_partition : public app_partition {
 public:
  explicit mounted_partition(mounted_partition_options opts) : opts_(std::move(opts)) {
    status_.kind = "mount";
    status_.device = opts_.device;
    status_.target = opts_.target;
    status_.fstype = opts_.fstype;
  }

  partition_status prepare() override {
    std::lock_guard<std::mutex> guard{mtx_};
    auto s = status_;
    s.outcome = run(s);
    if (s.outcome == partition_outcome::unavailable) {
      fall_back(s);
    } else {
      s.durable = true;
      s.fallback.clear();
    }
    if (auto table = mount_table::load(opts_.mountinfo)) {
      if (auto m = table->find_by_target(opts_.target)) {
        s.mount = *m;
      }
    }
    status_ = s;
    return s;
  }

  caf::error erase() override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (auto err = check_partition_options(opts_)) {
      return make_error(mount_errc::erase_failed, "erase: " + describe(err));
    }
    // Everything written so far reaches the disk before the wipe, and
    // nothing written after it can bring the old superblock back.
    ::sync();
    if (auto table = mount_table::load(opts_.mountinfo)) {
      std::vector<std::string> targets;
      for (const auto& m : table->find_by_source(opts_.device)) {
        targets.push_back(m.target);
      }
      // Top mounts first.
      for (auto i = targets.rbegin(); i != targets.rend(); ++i) {
        if (lm_unmount(*i, false)) {
          lm_unmount(*i, true);
        }
      }
    }
    if (auto err = wipe_superblock(opts_.device)) {
      return err;
    }
    status_.erased = true;
    status_.durable = false;
    return {};
  }

  partition_status status() const override {
    std::lock_guard<std::mutex> guard{mtx_};
    return status_;
  }

 private:
  std::string mount_options() const {
    return opts_.options.empty() ? std::string{"rw"} : "rw," + opts_.options;
  }

  /// Whether `m` is a mount of the configured device.
  bool is_ours(const mount_table& table, const mount_entry& m) const {
    auto mine = table.find_by_source(opts_.device);
    return std::any_of(mine.begin(), mine.end(),
                       [&m](const mount_entry& x) { return x.id == m.id; });
  }

  /// Whether the target now shows a read-write mount of the device.
  caf::error check_mounted_rw() const {
    auto table = mount_table::load(opts_.mountinfo);
    if (!table) {
      return table.error();
    }
    auto m = table->find_by_target(opts_.target);
    if (!m || !is_ours(*table, *m)) {
      return make_error(mount_errc::mount_failed,
                        "after mounting, " + opts_.target + " does not show " + opts_.device);
    }
    if (m->read_only) {
      return make_error(mount_errc::mount_failed, "the kernel mounted " + opts_.device +
                                                      " read-only (" + m->fs_options + ")");
    }
    return {};
  }

  /// Mounts the device read-write with app_partition.options. When that
  /// fails, tries once without the options before anything is formatted: the
  /// kernel answers EINVAL both for a bad superblock and for an unknown
  /// option, and a typo in the options must not cost the data. `note` says
  /// when the options were dropped.
  caf::error mount_rw(std::string& note) {
    auto err = lm_mount(opts_.device, opts_.target, opts_.fstype, mount_options());
    if (!err) {
      err = check_mounted_rw();
    }
    if (!err || opts_.options.empty() ||
        err.code() == static_cast<uint8_t>(mount_errc::mount_refused)) {
      return err;
    }
    unmount_ours();
    auto plain = lm_mount(opts_.device, opts_.target, opts_.fstype, "rw");
    if (!plain) {
      plain = check_mounted_rw();
    }
    if (plain) {
      return err;
    }
    note = "app_partition.options '" + opts_.options + "' refused (" + describe(err) +
           "); mounted without them";
    return {};
  }

  /// Unmounts the device from the target if it is mounted there (e.g. read-only).
  void unmount_ours() {
    if (auto table = mount_table::load(opts_.mountinfo)) {
      if (auto m = table->find_by_target(opts_.target); m && is_ours(*table, *m)) {
        lm_unmount(opts_.target, false);
      }
    }
  }

  /// Mounts, remounts or formats; returns the outcome and fills the reason.
  partition_outcome run(partition_status& s) {
    s.reason.clear();
    if (auto err = check_partition_options(opts_)) {
      s.reason = describe(err);
      return partition_outcome::unavailable;
    }
    struct stat st {};
    if (::stat(opts_.device.c_str(), &st) != 0) {
      s.reason = "device " + opts_.device + ": " + std::strerror(errno);
      return partition_outcome::unavailable;
    }
    auto table = mount_table::load(opts_.mountinfo);
    if (!table) {
      s.reason = describe(table.error());
      return partition_outcome::unavailable;
    }
    std::string reason;
    bool read_only = false;
    auto here = table->find_by_target(opts_.target);
    if (here && is_ours(*table, *here)) {
      if (!here->read_only) {
        return partition_outcome::already_mounted;
      }
      auto err = lm_remount_rw(opts_.target);
      if (!err) {
        err = check_mounted_rw();
      }
      if (!err) {
        return partition_outcome::remounted_rw;
      }
      reason = describe(err);
      read_only = true;
    } else {
      if (here) {
        // Something else (a tmpfs of an earlier fallback, say) is in the way.
        lm_unmount(opts_.target, false);
      }
      std::error_code ec;
      std::filesystem::create_directories(opts_.target, ec);
      std::string note;
      auto err = mount_rw(note);
      // An I/O error may pass (a slow card, a USB reset): try again before
      // deciding anything (decision 0076).
      for (int retry = 0; err && last_mount_errno == EIO && retry < opts_.io_retries; ++retry) {
        std::this_thread::sleep_for(opts_.io_retry_delay);
        unmount_ours();
        err = mount_rw(note);
      }
      if (!err) {
        s.reason = note;
        return partition_outcome::mounted;
      }
      read_only = last_mount_errno == 0 && describe(err).find("read-only") != std::string::npos;
      if (err.code() == static_cast<uint8_t>(mount_errc::mount_refused)) {
        s.reason = describe(err) + " (formatting would not help)";
        return partition_outcome::unavailable;
      }
      reason = describe(err);
    }
    // Format only a device that is really unusable (decision 0076): one
    // libblkid reads and finds no file system on (blank on the first boot,
    // wiped by a factory reset, a superblock destroyed), or the configured
    // one corrupted. Never on a read error, a read-only mount (the kernel
    // found errors, or the medium is write-protected), or another file
    // system: those boot on the fallback with the reason, the data kept.
    if (read_only) {
      s.reason = reason + "; read-only, not formatting (the data is kept)";
      return partition_outcome::unavailable;
    }
    if (last_mount_errno == EIO) {
      s.reason = reason + "; an I/O error after " + std::to_string(opts_.io_retries) +
                 " retries, not formatting (the data is kept)";
      return partition_outcome::unavailable;
    }
    auto probe = probe_filesystem(opts_.device);
    if (!probe.readable) {
      s.reason = reason + "; cannot read " + opts_.device + " (" + probe.error +
                 "), not formatting (the data is kept)";
      return partition_outcome::unavailable;
    }
    if (!probe.type.empty() && probe.type != opts_.fstype) {
      s.reason = reason + "; " + opts_.device + " holds " + probe.type +
                 ", not app_partition.fstype " + opts_.fstype +
                 ": not formatting (the data is kept; erase it with a factory reset)";
      return partition_outcome::unavailable;
    }
    // Unmount whatever is there, format, mount again (Nerves' policy; the
    // normal path of a blank partition on first boot).
    if (auto now = mount_table::load(opts_.mountinfo)) {
      for (int i = 0; i < 8; ++i) {
        auto m = now->find_by_target(opts_.target);
        if (!m || lm_unmount(opts_.target, false)) {
          break;
        }
        now = mount_table::load(opts_.mountinfo);
        if (!now) {
          break;
        }
      }
    }
    format_request req;
    req.device = opts_.device;
    req.fstype = opts_.fstype;
    req.mkfs_options = opts_.mkfs_options;
    req.dirs = opts_.mkfs_dirs;
    req.timeout = opts_.mkfs_timeout;
    if (auto err = format_device(req)) {
      s.reason = reason + "; formatting failed: " + describe(err);
      return partition_outcome::unavailable;
    }
    std::string note;
    if (auto err = mount_rw(note)) {
      s.reason = reason + "; formatted, but mounting failed again: " + describe(err);
      return partition_outcome::unavailable;
    }
    s.reason = note.empty() ? reason : reason + "; " + note;
    return partition_outcome::formatted;
  }

  /// The state directory must still work this boot: a tmpfs at the target.
  void fall_back(partition_status& s) {
    s.durable = false;
    s.fallback = "root file system";
    if (!opts_.tmpfs_fallback || opts_.target.empty() || opts_.target.front() != '/' ||
        resolve_path(opts_.target) == "/") {
      return;
    }
    std::error_code ec;
    std::filesystem::create_directories(opts_.target, ec);
    if (auto table = mount_table::load(opts_.mountinfo)) {
      if (auto m = table->find_by_target(opts_.target); m && m->fstype == "tmpfs") {
        s.fallback = "tmpfs";
        return;
      }
    }
    if (auto err = lm_mount("tmpfs", opts_.target, "tmpfs", "rw,nosuid,nodev,mode=0755"); !err) {
      s.fallback = "tmpfs";
    } else {
      s.reason += "; no tmpfs either: " + describe(err);
    }
  }

  mounted_partition_options opts_;
  mutable std::mutex mtx_;
  partition_status status_;
};

}  // namespace

std::shared_ptr<app_partition> make_mounted_partition(mounted_partition_options opts) {
  return std::make_shared<mounted_partition>(std::move(opts));
}

}  // namespace myelin::runtime
