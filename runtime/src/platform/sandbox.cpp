// What an app host may do to the system (see sandbox.hpp, decision 0079).
#include "myelin/runtime/platform/sandbox.hpp"

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <set>

#include <caf/sec.hpp>

namespace myelin::runtime {

namespace {

#if defined(__x86_64__)
constexpr uint32_t native_arch = AUDIT_ARCH_X86_64;
#elif defined(__aarch64__)
constexpr uint32_t native_arch = AUDIT_ARCH_AARCH64;
#elif defined(__arm__)
constexpr uint32_t native_arch = AUDIT_ARCH_ARM;
#elif defined(__i386__)
constexpr uint32_t native_arch = AUDIT_ARCH_I386;
#elif defined(__riscv) && __riscv_xlen == 64
constexpr uint32_t native_arch = AUDIT_ARCH_RISCV64;
#else
#error "no seccomp architecture for this target: add its AUDIT_ARCH_*"
#endif

constexpr uint32_t ret_eperm = SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA);
constexpr uint32_t ret_enosys = SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA);

/// The low 32 bits of argument 0 (pids, signal targets and clone flags are
/// ints: the kernel looks at no more).
constexpr uint32_t arg0_low = offsetof(seccomp_data, args)
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                              + 4
#endif
    ;

struct named_call {
  long nr;
  const char* name;
};

#define MYELIN_CALL(x) \
  named_call {         \
    __NR_##x, #x       \
  }

/// Refused outright (those this architecture has).
const std::vector<named_call>& refused_calls() {
  static const std::vector<named_call> calls = {
      MYELIN_CALL(ptrace),
      MYELIN_CALL(process_vm_readv),
      MYELIN_CALL(process_vm_writev),
      MYELIN_CALL(kcmp),
#ifdef __NR_pidfd_getfd
      MYELIN_CALL(pidfd_getfd),
#endif
#ifdef __NR_pidfd_send_signal
      MYELIN_CALL(pidfd_send_signal),
#endif
      MYELIN_CALL(tkill),
      MYELIN_CALL(mount),
      MYELIN_CALL(umount2),
      MYELIN_CALL(pivot_root),
      MYELIN_CALL(chroot),
      MYELIN_CALL(unshare),
      MYELIN_CALL(setns),
#ifdef __NR_fsopen
      MYELIN_CALL(fsopen),
      MYELIN_CALL(fsconfig),
      MYELIN_CALL(fsmount),
      MYELIN_CALL(fspick),
      MYELIN_CALL(move_mount),
      MYELIN_CALL(open_tree),
#endif
#ifdef __NR_mount_setattr
      MYELIN_CALL(mount_setattr),
#endif
      MYELIN_CALL(reboot),
      MYELIN_CALL(kexec_load),
#ifdef __NR_kexec_file_load
      MYELIN_CALL(kexec_file_load),
#endif
      MYELIN_CALL(init_module),
      MYELIN_CALL(finit_module),
      MYELIN_CALL(delete_module),
      MYELIN_CALL(swapon),
      MYELIN_CALL(swapoff),
      MYELIN_CALL(acct),
      MYELIN_CALL(syslog),
      MYELIN_CALL(settimeofday),
      MYELIN_CALL(clock_settime),
      MYELIN_CALL(clock_adjtime),
      MYELIN_CALL(adjtimex),
      MYELIN_CALL(sethostname),
      MYELIN_CALL(setdomainname),
#ifdef __NR_iopl
      MYELIN_CALL(iopl),
#endif
#ifdef __NR_ioperm
      MYELIN_CALL(ioperm),
#endif
      MYELIN_CALL(bpf),
      MYELIN_CALL(perf_event_open),
      MYELIN_CALL(keyctl),
      MYELIN_CALL(add_key),
      MYELIN_CALL(request_key),
      MYELIN_CALL(userfaultfd),
      MYELIN_CALL(open_by_handle_at),
      MYELIN_CALL(name_to_handle_at),
      MYELIN_CALL(lookup_dcookie),
      MYELIN_CALL(quotactl),
#ifdef __NR_quotactl_fd
      MYELIN_CALL(quotactl_fd),
#endif
#ifdef __NR_uselib
      MYELIN_CALL(uselib),
#endif
      MYELIN_CALL(vhangup),
  };
  return calls;
}

#undef MYELIN_CALL

/// Those whose first argument names the process that gets a signal.
const std::vector<long>& signal_calls() {
  static const std::vector<long> calls = {__NR_kill, __NR_tgkill, __NR_rt_sigqueueinfo,
                                          __NR_rt_tgsigqueueinfo};
  return calls;
}

constexpr uint32_t namespace_flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                                     CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP;

caf::error fail(const std::string& what) {
  return caf::make_error(caf::sec::runtime_error, what);
}

caf::error fail_errno(const std::string& what) {
  return fail(what + ": " + std::strerror(errno));
}

bool valid_app_name(const std::string& app) {
  return !app.empty() && app != "." && app != ".." && app.find('/') == std::string::npos &&
         app.find('\0') == std::string::npos;
}

/// apps.<name>.user: a user name or a number.
caf::expected<std::pair<uid_t, gid_t>> configured_user(const std::string& user) {
  passwd pw{};
  passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return std::pair{found->pw_uid, found->pw_gid};
  }
  char* end = nullptr;
  errno = 0;
  auto n = std::strtoul(user.c_str(), &end, 10);
  if (user.empty() || *end != '\0' || errno != 0 || n >= 0xffffffffUL || !std::isdigit(user[0])) {
    return fail("user '" + user + "' is neither a user name of this system nor a number");
  }
  auto uid = static_cast<uid_t>(n);
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return std::pair{uid, found->pw_gid};
  }
  return std::pair{uid, static_cast<gid_t>(uid)};
}

/// Gives `dir` and what is in it to uid:gid (after the app's user changed).
void give_tree(const std::filesystem::path& dir, uid_t uid, gid_t gid) {
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it{dir, ec}, end; !ec && it != end;
       it.increment(ec)) {
    ::lchown(it->path().c_str(), uid, gid);
  }
  ::lchown(dir.c_str(), uid, gid);
}

std::mutex allocation_mutex;

}  // namespace

seccomp_program::seccomp_program(pid_t core) {
  auto stmt = [this](uint16_t code, uint32_t k) { code_.push_back(BPF_STMT(code, k)); };
  auto jump = [this](uint16_t code, uint32_t k, uint8_t jt, uint8_t jf) {
    code_.push_back(BPF_JUMP(code, k, jt, jf));
  };
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  jump(BPF_JMP | BPF_JEQ | BPF_K, native_arch, 1, 0);
  stmt(BPF_RET | BPF_K, ret_eperm);
  stmt(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
#if defined(__x86_64__)
  // x32 numbers reach the same kernel code under other numbers.
  jump(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1);
  stmt(BPF_RET | BPF_K, ret_eperm);
#endif
  for (const auto& c : refused_calls()) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(c.nr), 0, 1);
    stmt(BPF_RET | BPF_K, ret_eperm);
    refused_.emplace_back(c.name);
  }
#ifdef __NR_clone3
  jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 0, 1);
  stmt(BPF_RET | BPF_K, ret_enosys);
#endif
  // Signals: never to PID 1, myelin-boot, its process group or everyone.
  std::vector<uint32_t> targets{1, static_cast<uint32_t>(core),
                                static_cast<uint32_t>(-static_cast<int32_t>(core)), 0xffffffffU};
  pid_t group = ::getpgid(core);
  if (group > 1 && group != core) {
    targets.push_back(static_cast<uint32_t>(-static_cast<int32_t>(group)));
  }
  // Block: load arg0; one JEQ per target (to the EPERM at its end); allow.
  auto block = static_cast<uint8_t>(targets.size() + 3);
  for (long nr : signal_calls()) {
    jump(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(nr), 0, block);
    stmt(BPF_LD | BPF_W | BPF_ABS, arg0_low);
    for (size_t i = 0; i < targets.size(); ++i) {
      jump(BPF_JMP | BPF_JEQ | BPF_K, targets[i], static_cast<uint8_t>(targets.size() - i), 0);
    }
    stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    stmt(BPF_RET | BPF_K, ret_eperm);
  }
  // clone: threads and processes, not namespaces.
  jump(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 4);
  stmt(BPF_LD | BPF_W | BPF_ABS, arg0_low);
  jump(BPF_JMP | BPF_JSET | BPF_K, namespace_flags, 1, 0);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  stmt(BPF_RET | BPF_K, ret_eperm);
  stmt(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  prog_.len = static_cast<unsigned short>(code_.size());
  prog_.filter = code_.data();
}

bool can_switch_users() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (::syscall(SYS_capget, &header, data) != 0) {
    return ::geteuid() == 0;
  }
  auto has = [&](int cap) { return (data[cap / 32].effective & (1U << (cap % 32))) != 0; };
  return has(CAP_SETUID) && has(CAP_SETGID) && has(CAP_CHOWN);
}

caf::expected<app_identity> app_identity_for(const std::string& app,
                                             const app_identity_options& opts) {
  namespace fs = std::filesystem;
  if (!valid_app_name(app)) {
    return fail("'" + app + "' cannot name a data directory");
  }
  if (opts.data_root.empty()) {
    return fail("no directory for app data");
  }
  std::error_code ec;
  fs::create_directories(opts.data_root, ec);
  if (ec) {
    return fail("cannot create " + opts.data_root + ": " + ec.message());
  }
  app_identity id;
  auto dir = fs::path{opts.data_root} / app;
  id.data_dir = dir.string();
  std::lock_guard<std::mutex> guard{allocation_mutex};
  struct stat st {};
  bool exists = ::lstat(dir.c_str(), &st) == 0;
  if (exists && !S_ISDIR(st.st_mode)) {
    return fail(id.data_dir + " is not a directory");
  }
  if (!opts.own_user) {
    id.uid = ::geteuid();
    id.gid = ::getegid();
    if (!exists && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return fail_errno("cannot create " + id.data_dir);
    }
    return id;
  }
  id.switch_user = true;
  auto in_range = [&](uid_t u) { return u >= opts.uid_base && u - opts.uid_base < opts.uid_count; };
  if (!opts.user.empty()) {
    auto user = configured_user(opts.user);
    if (!user) {
      return user.error();
    }
    id.uid = user->first;
    id.gid = user->second;
  } else if (exists && in_range(st.st_uid)) {
    id.uid = st.st_uid;
    id.gid = st.st_uid;
  } else {
    // The lowest uid of the range that no other app's directory has.
    std::set<uid_t> taken;
    for (fs::directory_iterator it{opts.data_root, ec}, end; !ec && it != end; it.increment(ec)) {
      struct stat other {};
      if (it->path() != dir && ::lstat(it->path().c_str(), &other) == 0) {
        taken.insert(other.st_uid);
      }
    }
    bool found = false;
    for (uint32_t i = 0; i < opts.uid_count && !found; ++i) {
      auto u = static_cast<uid_t>(opts.uid_base + i);
      if (taken.count(u) == 0) {
        id.uid = u;
        id.gid = u;
        found = true;
      }
    }
    if (!found) {
      return fail("no free app user in " + std::to_string(opts.uid_base) + ".." +
                  std::to_string(opts.uid_base + opts.uid_count - 1) +
                  " (apphost.uid_base, apphost.uid_count)");
    }
  }
  if (!exists && ::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return fail_errno("cannot create " + id.data_dir);
  }
  if (!exists || st.st_uid != id.uid || st.st_gid != id.gid) {
    give_tree(dir, id.uid, id.gid);
  }
  ::chmod(dir.c_str(), 0700);
  return id;
}

}  // namespace myelin::runtime
