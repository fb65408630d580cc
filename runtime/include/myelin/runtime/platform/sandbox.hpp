// What an app host may do to the system (issue 18, decision 0079): its own
// user and data directory, no capabilities, no_new_privs, and a seccomp
// filter refusing what no app has any business doing. myelin-boot prepares
// all of it before it clones the app host; the child only makes system calls.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <caf/expected.hpp>

namespace myelin::runtime {

/// The seccomp program of app hosts. Refused calls fail with EPERM (a clear
/// error for the app; its process goes on):
///   - ptrace and reading or writing other processes' memory;
///   - mount, namespaces (unshare, setns, clone with CLONE_NEW*), chroot;
///   - reboot, kexec, kernel modules, swap, accounting, the kernel log;
///   - setting the clock or the host name; I/O ports; bpf, perf events,
///     keyrings, userfaultfd, open_by_handle_at;
///   - signals to PID 1, to `core` (myelin-boot) and to every process (-1).
/// clone3 answers ENOSYS (its flags are out of the filter's reach), so the C
/// library falls back to clone. System calls of another ABI (i386 or x32 on
/// x86_64) are refused.
class seccomp_program {
 public:
  explicit seccomp_program(pid_t core);

  /// For prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ...): valid as long as
  /// this object is.
  const sock_fprog* program() const { return &prog_; }

  /// The system calls refused outright (names, for status and docs).
  const std::vector<std::string>& refused() const { return refused_; }

  seccomp_program(const seccomp_program&) = delete;
  seccomp_program& operator=(const seccomp_program&) = delete;

 private:
  std::vector<sock_filter> code_;
  sock_fprog prog_{};
  std::vector<std::string> refused_;
};

/// Who an app host runs as, and where its private data lives.
struct app_identity {
  uid_t uid = 0;
  gid_t gid = 0;
  /// True: the child switches to uid/gid (myelin-boot runs as root).
  bool switch_user = false;
  /// <root>/<app>, mode 0700, owned by uid.
  std::string data_dir;
};

struct app_identity_options {
  /// <state.dir>/app-data.
  std::string data_root;
  /// apps.<name>.user: empty allocates one from [uid_base, uid_base + uid_count).
  std::string user;
  uid_t uid_base = 70000;
  uint32_t uid_count = 1000;
  /// False: the app host keeps myelin-boot's user (apphost.sandbox = false,
  /// or myelin-boot is not root).
  bool own_user = true;
};

/// The app's identity: an allocated user is the owner of its data directory
/// (so it stays the same across boots), else the lowest uid of the range
/// that owns no other app's directory. Creates and chowns the directory.
/// Errors: a bad app name or user, a full range, the directory cannot be made.
caf::expected<app_identity> app_identity_for(const std::string& app,
                                             const app_identity_options& opts);

/// Whether this process can switch users (CAP_SETUID and CAP_SETGID).
bool can_switch_users();

}  // namespace myelin::runtime
