// The firmware service actor.
#include "myelin/actors/firmware.hpp"

#include "myelin/actors/registry.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "myelin/actors/apps.hpp"
#include "myelin/actors/firmware_upload.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/actors/overlays.hpp"
#include "myelin/actors/self_timer.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/firmware/firmware_slot.hpp"
#include "myelin/runtime/firmware/firmware_status.hpp"
#include "myelin/runtime/kv/kv_store.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"

namespace myelin::actors {

namespace {

using namespace std::chrono_literals;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("firmware");
  return l ? l : spdlog::default_logger();
}

caf::error no_kv() {
  return runtime::make_error(runtime::kv_errc::unreadable, "the kv service is not running");
}

caf::error reset_failed(const std::string& why) {
  return runtime::make_error(runtime::kv_errc::write_failed, "factory reset: " + why);
}

// Zeroes [offset, offset + len) of an open device.
bool zero_range(int fd, uint64_t offset, uint64_t len) {
  std::vector<char> zeros(1 << 16, 0);
  while (len > 0) {
    auto n = static_cast<size_t>(std::min<uint64_t>(len, zeros.size()));
    auto w = ::pwrite(fd, zeros.data(), n, static_cast<off_t>(offset));
    if (w <= 0) {
      return false;
    }
    offset += static_cast<uint64_t>(w);
    len -= static_cast<uint64_t>(w);
  }
  return true;
}

}  // namespace

caf::error erase_app_data(const std::string& path) {
  namespace fs = std::filesystem;
  if (path.empty()) {
    return {};
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return reset_failed(path + ": " + std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      fs::remove_all(entry.path(), ec);
      if (ec) {
        return reset_failed("cannot remove " + entry.path().string() + ": " + ec.message());
      }
    }
    if (ec) {
      return reset_failed(path + ": " + ec.message());
    }
    return {};
  }
  if (S_ISBLK(st.st_mode) || S_ISREG(st.st_mode)) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
      return reset_failed(path + ": " + std::strerror(errno));
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    if (S_ISBLK(st.st_mode)) {
      ::ioctl(fd, BLKGETSIZE64, &size);
    }
    // Superblocks live at the start (ext4, f2fs) and the end (some backups):
    // wiping both makes the next boot reformat the partition.
    constexpr uint64_t mib = 1 << 20;
    bool ok = zero_range(fd, 0, std::min(size, mib)) &&
              (size <= mib ||
               zero_range(fd, size - std::min(size - mib, mib), std::min(size - mib, mib))) &&
              ::fsync(fd) == 0;
    ::close(fd);
    return ok ? caf::error{} : reset_failed("cannot write " + path);
  }
  return reset_failed(path + " is neither a directory nor a block device");
}

namespace {

/// Tells the overlays service that the next boot switches from slot `from`
/// to `to`, then runs `done` (also when there is no overlays service or it
/// fails: the switch happened; the error is logged).
void tell_overlays(caf::event_based_actor* self, const std::string& from, const std::string& to,
                   std::function<void()> done) {
  auto overlays = self->system().registry().get<caf::actor>(overlays_registry_name);
  if (!overlays || from == to) {
    return done();
  }
  self->request(overlays, 10s, overlays_switch_atom::value, from, to)
      .then([done] { done(); },
            [done](caf::error& err) {
              log()->error("firmware: overlays: {}", runtime::describe(err));
              done();
            });
}

using fw_fallback_checked_atom = caf::atom_constant<caf::atom("fwfbcheck")>;

/// The background check of the fallback slot: its thread, told to stop when
/// the service ends.
struct fallback_check {
  std::atomic<bool> stop{false};
  std::thread thread;
};

/// Lowers the calling thread to idle I/O priority and nice 19: the check must
/// not slow the apps down.
void lower_priority() {
  constexpr int ioprio_class_idle = 3;
  constexpr int ioprio_class_shift = 13;
  constexpr int ioprio_who_process = 1;  // a thread id names the thread
  ::syscall(SYS_ioprio_set, ioprio_who_process, 0, ioprio_class_idle << ioprio_class_shift);
  ::setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 19);
}

/// While the running firmware is unvalidated the bootloader may fall back to
/// the other slot: hash it against the image recorded at its install, in the
/// background; the answer comes as fw_fallback_checked_atom.
void start_fallback_check(caf::event_based_actor* self, const firmware_options& opts,
                          std::shared_ptr<fallback_check> check) {
  auto store = self->system().registry().get<caf::actor>(kv_registry_name);
  if (!store) {
    return;
  }
  self->request(caf::actor_cast<caf::actor>(store), 10s, kv_get_all_atom::value)
      .then(
          [self, opts, check](const runtime::kv_map& kv) {
            if (runtime::validation_status(kv) != runtime::validation::unvalidated) {
              return;
            }
            auto slot = runtime::other_slot(runtime::active_slot(kv));
            auto record = slot.empty() ? std::nullopt : runtime::recorded_image(kv, slot);
            if (!record || !runtime::holds_firmware(kv, slot)) {
              return;  // nothing to fall back to, or nothing recorded to check against
            }
            auto path = slot == "a" ? opts.upload.slot_a : opts.upload.slot_b;
            auto me = caf::actor_cast<caf::actor>(self);
            check->thread =
                runtime::guarded_thread("fw.check", [me, check, slot, path, record = *record] {
                  lower_priority();
                  auto same =
                      runtime::slot_holds_image(path, record.size, record.sha256, &check->stop);
                  if (check->stop) {
                    return;
                  }
                  std::string why = !same   ? runtime::describe(same.error())
                                    : *same ? std::string{}
                                            : std::string{"its SHA-256 differs"};
                  caf::anon_send(me, fw_fallback_checked_atom::value, slot, record.sha256, why);
                });
          },
          [](caf::error& err) {
            log()->warn("firmware: the fallback slot is not checked: {}", runtime::describe(err));
          });
}

/// Tells the overlays service the running firmware is validated: overlays
/// set aside for the one before it go (decision 0077).
void tell_validated(caf::event_based_actor* self) {
  if (auto overlays = self->system().registry().get<caf::actor>(overlays_registry_name)) {
    caf::anon_send(caf::actor_cast<caf::actor>(overlays), overlays_validated_atom::value);
  }
}

/// Whether `slot` may be chosen: it holds firmware and, where install
/// recorded its image, hashes to it.
caf::error check_slot(const firmware_upload_options& o, const runtime::kv_map& kv,
                      const std::string& slot) {
  if (slot.empty() || !runtime::holds_firmware(kv, slot)) {
    return {};  // revert_changes gives the reason
  }
  auto record = runtime::recorded_image(kv, slot);
  if (!record) {
    return {};  // installed before images were recorded: the metadata decides
  }
  const auto& path = slot == "a" ? o.slot_a : o.slot_b;
  auto same = runtime::slot_holds_image(path, record->size, record->sha256);
  if (!same || !*same) {
    return runtime::make_error(runtime::firmware_errc::slot_corrupt,
                               "slot " + slot + " (" + path +
                                   ") does not hold the image installed there" +
                                   (same ? std::string{" (its SHA-256 differs)"}
                                         : " (" + runtime::describe(same.error()) + ")"));
  }
  return {};
}

}  // namespace

supervisors::start_fn firmware_start(firmware_options opts) {
  return [opts](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
    // The one upload of this service instance: its busy flag and progress.
    auto upload = std::make_shared<firmware_upload>(sys, opts.upload);
    // Detached: revert hashes a slot, factory reset zeroes a partition.
    auto self = sys.spawn<caf::detached>([opts,
                                          upload](caf::event_based_actor* self) -> caf::behavior {
      auto kv = [self] { return self->system().registry().get<caf::actor>(kv_registry_name); };
      // Runs `fn` as one read-modify-write in the kv service, then `done`
      // or `failed` with why.
      auto update_then = [self, kv](kv_update_fn fn, std::function<void()> done,
                                    std::function<void(caf::error)> failed) {
        auto store = kv();
        if (!store) {
          return failed(no_kv());
        }
        self->request(store, 10s, kv_update_atom::value, std::move(fn))
            .then([done] { done(); }, [failed](caf::error& err) { failed(std::move(err)); });
      };
      // The same, answering `rp`; `then` runs after a success, before the answer.
      auto update = [update_then](kv_update_fn fn, caf::response_promise rp,
                                  std::function<void()> then) {
        update_then(
            std::move(fn),
            [rp, then]() mutable {
              if (then) {
                then();
              }
              rp.deliver(caf::unit);
            },
            [rp](caf::error err) mutable { rp.deliver(std::move(err)); });
      };
      if (opts.auto_validate_after_s > 0) {
        self_timer(self, std::chrono::seconds{opts.auto_validate_after_s},
                   fw_auto_validate_atom::value);
      }
      if (opts.check_fallback) {
        auto check = std::make_shared<fallback_check>();
        self->attach_functor([check] {
          check->stop = true;
          if (check->thread.joinable()) {
            check->thread.join();
          }
        });
        start_fallback_check(self, opts, check);
      }
      return {
          [update_then, opts](fw_fallback_checked_atom, const std::string& slot,
                              const std::string& sha256, const std::string& why) {
            const auto& path = slot == "a" ? opts.upload.slot_a : opts.upload.slot_b;
            if (why.empty()) {
              log()->info("firmware: fallback slot {} verified: it holds the image installed there",
                          slot);
              return;
            }
            // Forgotten only if it still records what was checked: an upload
            // that began meanwhile forgot it already, and a switch made it active.
            auto forgot = std::make_shared<bool>(false);
            update_then(
                [slot, sha256,
                 forgot](const runtime::kv_map& c) -> caf::expected<runtime::kv_changes> {
                  auto record = runtime::recorded_image(c, slot);
                  if (runtime::active_slot(c) == slot || !record || record->sha256 != sha256) {
                    return runtime::kv_changes{};
                  }
                  *forgot = true;
                  return runtime::forget_slot_changes(c, slot);
                },
                [slot, path, why, forgot] {
                  if (!*forgot) {
                    return;
                  }
                  log()->critical(
                      "firmware: fallback slot {} ({}) does not hold the image installed there "
                      "({}): forgotten, so that no boot and no revert falls back to it",
                      slot, path, why);
                },
                [slot](caf::error err) {
                  log()->error("firmware: cannot forget the damaged fallback slot {}: {}", slot,
                               runtime::describe(err));
                });
          },
          [self, kv, update, opts](fw_auto_validate_atom) {
            auto store = kv();
            if (!store) {
              return;
            }
            self->request(store, 10s, kv_get_all_atom::value)
                .then(
                    [self, update, opts](const runtime::kv_map& contents) {
                      if (runtime::validation_status(contents) !=
                          runtime::validation::unvalidated) {
                        return;
                      }
                      if (opts.config_issues && opts.config_issues() > 0) {
                        log()->warn(
                            "firmware: not validating: the configuration has errors (see "
                            "myelin status); the next boot reverts");
                        return;
                      }
                      auto apps = self->system().registry().get<caf::actor>(apps_registry_name);
                      auto validate = [self, update, opts] {
                        update(
                            [](const runtime::kv_map& c) -> caf::expected<runtime::kv_changes> {
                              return runtime::validate_changes(c);
                            },
                            self->make_response_promise(),
                            [self, opts] {
                              tell_validated(self);
                              log()->info(
                                  "firmware: validated by the startup guard: every app "
                                  "ran {} s cleanly",
                                  opts.auto_validate_after_s);
                            });
                      };
                      if (!apps) {
                        validate();
                        return;
                      }
                      self->request(apps, 10s, apps_status_atom::value)
                          .then(
                              [self, validate, opts](const std::vector<app_status>& rows) {
                                int64_t want = opts.auto_validate_after_s * 1000;
                                int64_t wait_ms = 0;
                                for (const auto& a : rows) {
                                  if (a.restarts > 0 || a.state != "running") {
                                    log()->warn(
                                        "firmware: not validating: app {} is {} after {} "
                                        "unplanned exit(s); the next boot reverts",
                                        a.name, a.state, a.restarts);
                                    return;
                                  }
                                  wait_ms = std::max(wait_ms, want - a.uptime_ms);
                                }
                                if (wait_ms > 0) {
                                  self_timer(self, std::chrono::milliseconds{wait_ms + 100},
                                             fw_auto_validate_atom::value);
                                  return;
                                }
                                validate();
                              },
                              [](caf::error&) {});
                    },
                    [](caf::error&) {});
          },
          [self, kv](fw_status_atom) -> caf::result<runtime::firmware_status> {
            auto store = kv();
            if (!store) {
              return no_kv();
            }
            auto rp = self->make_response_promise<runtime::firmware_status>();
            self->request(store, 10s, kv_get_all_atom::value)
                .then(
                    [rp](const runtime::kv_map& contents) mutable {
                      rp.deliver(runtime::status_of(contents));
                    },
                    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
            return rp;
          },
          [self, update](fw_validate_atom) {
            auto rp = self->make_response_promise();
            update(
                [](const runtime::kv_map& c) -> caf::expected<runtime::kv_changes> {
                  return runtime::validate_changes(c);
                },
                rp,
                [self] {
                  tell_validated(self);
                  log()->info("firmware: validated");
                });
            return rp;
          },
          [self, update_then, opts](fw_revert_atom, bool reboot) {
            auto rp = self->make_response_promise();
            auto slots = std::make_shared<std::pair<std::string, std::string>>();
            auto store = self->system().registry().get<caf::actor>(kv_registry_name);
            if (!store) {
              rp.deliver(no_kv());
              return rp;
            }
            // First the other slot's contents against the image recorded for
            // it: a slot that fails is never chosen. Then the switch, in one
            // read-modify-write.
            self->request(store, 10s, kv_get_all_atom::value)
                .then(
                    [=](const runtime::kv_map& now) mutable {
                      auto other = runtime::other_slot(runtime::active_slot(now));
                      if (auto err = check_slot(opts.upload, now, other)) {
                        log()->error("firmware: not reverting: {}", runtime::describe(err));
                        rp.deliver(std::move(err));
                        return;
                      }
                      update_then(
                          [slots](const runtime::kv_map& c) {
                            auto changes = runtime::revert_changes(c);
                            if (changes) {
                              slots->first = runtime::active_slot(c);
                              auto i = changes->find(std::string{runtime::active_slot_key});
                              slots->second =
                                  i != changes->end() && i->second ? *i->second : slots->first;
                            }
                            return changes;
                          },
                          [self, slots, reboot, opts, rp]() mutable {
                            log()->warn("firmware: reverted to the other slot{}",
                                        reboot ? "; rebooting" : "");
                            tell_overlays(
                                self, slots->first, slots->second, [reboot, opts, rp]() mutable {
                                  rp.deliver(caf::unit);
                                  if (reboot && opts.request_power) {
                                    opts.request_power(runtime::power_action::reboot, "", false);
                                  }
                                });
                          },
                          [rp](caf::error err) mutable { rp.deliver(std::move(err)); });
                    },
                    [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
            return rp;
          },
          [self, update](fw_forget_slot_atom, const std::string& slot) {
            auto rp = self->make_response_promise();
            update(
                [slot](const runtime::kv_map& c) -> caf::expected<runtime::kv_changes> {
                  if ((slot != "a" && slot != "b") || slot == runtime::active_slot(c)) {
                    return runtime::make_error(
                        runtime::firmware_errc::unknown_slot,
                        "refusing to forget slot '" + slot + "': it is not the inactive slot");
                  }
                  return runtime::forget_slot_changes(c, slot);
                },
                rp, [slot] { log()->info("firmware: slot {} forgotten; writing it", slot); });
            return rp;
          },
          [upload](fw_upload_session_atom) { return upload; },
          [upload](fw_upload_status_atom) { return upload->progress(); },
          [self, update_then](fw_switch_atom, const runtime::firmware_manifest& m,
                              const std::string& slot, const std::string& running) {
            auto rp = self->make_response_promise();
            update_then(
                [m, slot,
                 running](const runtime::kv_map& now) -> caf::expected<runtime::kv_changes> {
                  if (runtime::active_slot(now) != running) {
                    return make_error(firmware_upload_errc::slot_changed,
                                      "the active slot changed during the upload; not switching");
                  }
                  return runtime::install_changes(now, m, slot);
                },
                [self, slot, running, rp]() mutable {
                  tell_overlays(self, running, slot, [rp]() mutable { rp.deliver(caf::unit); });
                },
                [rp](caf::error err) mutable { rp.deliver(std::move(err)); });
            return rp;
          },
          [self, update](fw_prevent_revert_atom) {
            auto rp = self->make_response_promise();
            update(
                [](const runtime::kv_map& c) -> caf::expected<runtime::kv_changes> {
                  return runtime::prevent_revert_changes(c);
                },
                rp, [] { log()->warn("firmware: revert prevented"); });
            return rp;
          },
          [opts](fw_factory_reset_atom) -> caf::result<caf::unit_t> {
            if (auto err = erase_app_data(opts.app_data)) {
              log()->error("{}", runtime::describe(err));
              return err;
            }
            if (opts.app_partition) {
              if (auto err = opts.app_partition->erase()) {
                log()->error("factory reset: {}", runtime::describe(err));
                return err;
              }
            }
            log()->warn("firmware: factory reset: application data erased; rebooting now");
            if (opts.request_power) {
              opts.request_power(runtime::power_action::reboot, "", true);
            }
            return caf::unit;
          },
      };
    });
    register_service(sys, firmware_registry_name, self);
    return self;
  };
}

}  // namespace myelin::actors
