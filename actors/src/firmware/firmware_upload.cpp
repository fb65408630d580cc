// Firmware installation from a streamed upload (see firmware_upload.hpp).
#include "myelin/actors/firmware_upload.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <new>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>
#include <caf/actor_registry.hpp>
#include <caf/make_message.hpp>
#include <caf/scoped_actor.hpp>

#include "myelin/actors/firmware.hpp"
#include "myelin/actors/kv.hpp"
#include "myelin/runtime/firmware/firmware_archive.hpp"
#include "myelin/runtime/firmware/firmware_slot.hpp"
#include "myelin/runtime/firmware/firmware_status.hpp"
#include "myelin/runtime/firmware/version_order.hpp"
#include "myelin/runtime/platform/guarded_thread.hpp"
#include "myelin/runtime/platform/thread_name.hpp"

namespace myelin::actors {

namespace {

using runtime::firmware_file_errc;

std::shared_ptr<spdlog::logger> log() {
  auto l = spdlog::get("firmware");
  return l ? l : spdlog::default_logger();
}

constexpr size_t pipe_block = 1 << 20;

/// Receive blocks are page-aligned: the slot writer can hand them to the
/// disk with direct I/O, without copying them (decision 0071).
constexpr std::align_val_t block_alignment{4096};

struct block_delete {
  void operator()(char* p) const { ::operator delete[](p, block_alignment); }
};
using block_memory = std::unique_ptr<char[], block_delete>;

}  // namespace

namespace detail {

/// A bounded byte pipe between the HTTP thread (producer) and the installer
/// thread (consumer), in page-aligned blocks of pipe_block bytes. The producer either
/// copies bytes in (push) or receives straight into the block being filled
/// (reserve + commit). The consumer borrows full blocks (pull_lent): a block
/// goes back to the producer once both the tar reader and the hashing thread are
/// done with it, so the image is hashed without a copy (decision 0067).
/// When the consumer stops early (it found an error),
/// the producer's bytes are dropped so that the HTTP thread can read the
/// rest of the body and answer with the reason.
class byte_pipe {
 public:
  explicit byte_pipe(size_t bytes) : blocks_(std::max<size_t>(2, bytes / pipe_block)) {}

  /// Producer: appends bytes (blocks while the buffer is full).
  void push(const char* data, size_t size) {
    while (size > 0) {
      auto room = reserve();
      if (room.second == 0) {
        return;  // the consumer is gone: drop
      }
      auto n = std::min(size, room.second);
      std::memcpy(room.first, data, n);
      commit(n);
      data += n;
      size -= n;
    }
  }

  /// Producer: where the next bytes may be written directly, and how many
  /// (blocks while the buffer is full); no room when the consumer is gone.
  std::pair<char*, size_t> reserve() {
    if (!filling_.data && !take_free_block()) {
      return {nullptr, 0};
    }
    return {filling_.data.get() + filling_.size, pipe_block - filling_.size};
  }

  /// Producer: `n` bytes were written where reserve() said.
  void commit(size_t n) {
    filling_.size += n;
    if (filling_.size == pipe_block) {
      hand_over();
    }
  }

  /// Producer: the body ended (`complete` false: it broke off).
  void close(bool complete) {
    if (filling_.data && filling_.size > 0) {
      hand_over();
    }
    std::lock_guard<std::mutex> lock{mtx_};
    closed_ = true;
    complete_ = complete;
    cv_.notify_all();
  }

  /// Consumer: the next block, lent (see runtime::firmware_chunk): it goes
  /// back to the producer when the last copy of its `keep` is gone. Empty
  /// at the end; an error when the body broke off.
  caf::expected<runtime::firmware_chunk> pull_lent() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return !full_.empty() || closed_; });
    if (full_.empty()) {
      if (!complete_) {
        return runtime::make_error(firmware_file_errc::truncated,
                                   "the upload broke off before the end of the firmware file");
      }
      return runtime::firmware_chunk{};
    }
    auto b = std::move(full_.front());
    full_.pop_front();
    lock.unlock();
    auto size = b.size;
    char* data = b.data.release();
    std::shared_ptr<const void> keep{
        data, [this](const void* p) {
          std::lock_guard<std::mutex> lock{mtx_};
          recycle(block{block_memory{const_cast<char*>(static_cast<const char*>(p))}});
        }};
    return runtime::firmware_chunk{std::string_view{data, size}, std::move(keep)};
  }

  /// Consumer: stops; everything pushed from now on is dropped.
  void stop_consuming() {
    std::lock_guard<std::mutex> lock{mtx_};
    consumer_gone_ = true;
    full_.clear();
    cv_.notify_all();
  }

 private:
  struct block {
    block_memory data;
    size_t size = 0;
  };

  void recycle(block b) {
    b.size = 0;
    free_.push_back(std::move(b));
    cv_.notify_all();
  }

  bool take_free_block() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return consumer_gone_ || !free_.empty() || allocated_ < blocks_; });
    if (consumer_gone_) {
      return false;
    }
    if (!free_.empty()) {
      filling_ = std::move(free_.back());
      free_.pop_back();
    } else {
      ++allocated_;
      // Not value-initialised: the network fills it.
      filling_.data.reset(static_cast<char*>(::operator new[](pipe_block, block_alignment)));
      filling_.size = 0;
    }
    return true;
  }

  void hand_over() {
    std::lock_guard<std::mutex> lock{mtx_};
    if (!consumer_gone_) {
      full_.push_back(std::move(filling_));
      cv_.notify_all();
    }
    filling_ = block{};
  }

  const size_t blocks_;
  size_t allocated_ = 0;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<block> full_;
  std::vector<block> free_;
  block filling_;
  bool closed_ = false;
  bool complete_ = false;
  bool consumer_gone_ = false;
};

}  // namespace detail

namespace {

using detail::byte_pipe;

caf::error no_firmware_service() {
  return runtime::make_error(runtime::kv_errc::unreadable, "the firmware service is not running");
}

/// The slots as the firmware service sees them (blocking, from a non-actor thread).
caf::expected<runtime::firmware_status> firmware_status_of(caf::actor_system& sys) {
  auto fw = sys.registry().get<caf::actor>(firmware_registry_name);
  if (!fw) {
    return no_firmware_service();
  }
  caf::scoped_actor self{sys};
  caf::expected<runtime::firmware_status> out{caf::error{}};
  self->request(fw, std::chrono::seconds{10}, fw_status_atom::value)
      .receive([&](runtime::firmware_status& st) { out = std::move(st); },
               [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// Asks the firmware service to make `slot` active with `m` (one KV write).
caf::error switch_to(caf::actor_system& sys, const runtime::firmware_manifest& m,
                     const std::string& slot, const std::string& running) {
  auto fw = sys.registry().get<caf::actor>(firmware_registry_name);
  if (!fw) {
    return no_firmware_service();
  }
  caf::scoped_actor self{sys};
  caf::error out;
  self->request(fw, std::chrono::seconds{30}, fw_switch_atom::value, m, slot, running)
      .receive([] {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

/// The store's keys (blocking, from a non-actor thread).
caf::expected<runtime::kv_map> kv_of(caf::actor_system& sys) {
  auto kv = sys.registry().get<caf::actor>(kv_registry_name);
  if (!kv) {
    return runtime::make_error(runtime::kv_errc::unreadable, "the kv service is not running");
  }
  caf::scoped_actor self{sys};
  caf::expected<runtime::kv_map> out{caf::error{}};
  self->request(kv, std::chrono::seconds{10}, kv_get_all_atom::value)
      .receive([&](runtime::kv_map& m) { out = std::move(m); },
               [&](caf::error& err) { out = std::move(err); });
  return out;
}

}  // namespace

std::string rollback_refusal(const runtime::firmware_manifest& m, const runtime::kv_map& kv,
                             const std::string& active, const firmware_upload_options& opts) {
  auto running = [&](const char* key) {
    auto it = kv.find(active + "." + key);
    return it == kv.end() ? std::string{} : it->second;
  };
  auto product = running("nerves_fw_product");
  auto version = running("nerves_fw_version");
  if (!opts.allow_other_products && !product.empty() && m.product != product) {
    return "firmware of product '" + m.product + "', this device runs '" + product +
           "' (firmware.allow_other_products = true to install it)";
  }
  if (opts.allow_downgrade || version.empty()) {
    return {};
  }
  auto order = runtime::compare_versions(m.version, version);
  if (!order) {
    if (!runtime::is_semver(m.version)) {
      return "firmware version '" + m.version +
             "' is not a semantic version (MAJOR.MINOR.PATCH), so it cannot be told newer "
             "than the running " +
             version + " (firmware.allow_downgrade = true to install it)";
    }
    return {};  // the running version predates the rule: nothing to compare
  }
  if (*order < 0) {
    return "firmware " + m.version + " is older than the running " + version +
           " (firmware.allow_downgrade = true to install it)";
  }
  return {};
}

namespace {

/// Asks the firmware service to delete `slot`'s metadata (not the running one's).
caf::error forget_slot(caf::actor_system& sys, const std::string& slot) {
  auto fw = sys.registry().get<caf::actor>(firmware_registry_name);
  if (!fw) {
    return no_firmware_service();
  }
  caf::scoped_actor self{sys};
  caf::error out;
  self->request(fw, std::chrono::seconds{30}, fw_forget_slot_atom::value, slot)
      .receive([] {}, [&](caf::error& err) { out = std::move(err); });
  return out;
}

bool same_file(const std::string& a, const std::string& b) {
  if (a == b) {
    return true;
  }
  struct stat sa {};
  struct stat sb {};
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) {
    return false;
  }
  if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode)) {
    return sa.st_rdev == sb.st_rdev;
  }
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

}  // namespace

std::string to_string(firmware_upload_errc x) {
  switch (x) {
    case firmware_upload_errc::busy:
      return "busy";
    case firmware_upload_errc::slot_changed:
      return "slot_changed";
  }
  return "firmware_upload_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(firmware_upload_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("fwupload"),
                    caf::make_message(std::move(context))};
}

caf::expected<firmware_upload_options> firmware_upload_options_from(const runtime::config& cfg,
                                                                    const std::string& state_dir) {
  firmware_upload_options o;
  o.platform = cfg.get_string("firmware.platform");
  o.architecture = cfg.get_string("firmware.architecture");
  o.allow_downgrade = cfg.get_bool("firmware.allow_downgrade");
  o.allow_other_products = cfg.get_bool("firmware.allow_other_products");
  if (o.architecture.empty()) {
    struct utsname u {};
    if (::uname(&u) == 0) {
      o.architecture = u.machine;
    }
  }
  for (const auto& text : cfg.get_list("firmware.trusted_keys")) {
    auto key = runtime::parse_public_key(text);
    if (!key) {
      // Like any broken configuration (decision 0004), this must not stop the
      // device from booting: the key is left out; firmware signed with it is refused.
      log()->error("firmware.trusted_keys: '{}' is not an ed25519 key ({}); ignored", text,
                   runtime::describe(key.error()));
      continue;
    }
    o.trusted.push_back(*key);
  }
  auto dir = state_dir + "/firmware";
  o.slot_a = cfg.get_string("firmware.slots.a");
  o.slot_b = cfg.get_string("firmware.slots.b");
  if (o.slot_a.empty()) {
    o.slot_a = dir + "/slot-a.img";
    o.slot_dir = dir;
  }
  if (o.slot_b.empty()) {
    o.slot_b = dir + "/slot-b.img";
    o.slot_dir = dir;
  }
  o.file_slot_size = static_cast<uint64_t>(cfg.get_int("firmware.file_slot_size_mb")) << 20;
  o.buffer_bytes = static_cast<size_t>(cfg.get_int("firmware.upload_buffer_mb")) << 20;
  return o;
}

firmware_upload::firmware_upload(caf::actor_system& sys, firmware_upload_options opts)
    : sys_(sys), opts_(std::move(opts)) {}

firmware_upload_progress firmware_upload::progress() const {
  std::lock_guard<std::mutex> lock{mtx_};
  return progress_;
}

void firmware_upload::set(const std::function<void(firmware_upload_progress&)>& fn) {
  std::lock_guard<std::mutex> lock{mtx_};
  fn(progress_);
}

firmware_upload_outcome firmware_upload::run(const body_reader& read_body, uint64_t total,
                                             bool force) {
  return run_feed(
      [&read_body](byte_pipe* pipe, const std::function<void(size_t)>& progress, std::string&) {
        return read_body([&](const char* data, size_t size) {
          if (pipe != nullptr) {
            pipe->push(data, size);
            progress(size);
          }
          return true;
        });
      },
      total, force);
}

firmware_upload_outcome firmware_upload::run(const body_source& source, uint64_t total,
                                             bool force) {
  return run_feed(
      [&source](byte_pipe* pipe, const std::function<void(size_t)>& progress, std::string& why) {
        std::unique_ptr<char[]> scratch;
        while (true) {
          auto room = pipe != nullptr ? pipe->reserve() : std::pair<char*, size_t>{nullptr, 0};
          if (room.second == 0) {
            // Nobody consumes the bytes (an early refusal, or the installer
            // stopped at an error): read them into scratch space and drop them.
            pipe = nullptr;
            if (!scratch) {
              scratch.reset(new char[pipe_block]);
            }
            room = {scratch.get(), pipe_block};
          }
          auto n = source(room.first, room.second, why);
          if (n <= 0) {
            return n == 0;
          }
          if (pipe != nullptr) {
            pipe->commit(static_cast<size_t>(n));
            progress(static_cast<size_t>(n));
          }
        }
      },
      total, force);
}

firmware_upload_outcome firmware_upload::run_feed(const body_feed& feed, uint64_t total,
                                                  bool force) {
  firmware_upload_outcome out;
  if (busy_.exchange(true)) {
    out.error = make_error(firmware_upload_errc::busy, "another firmware upload is in progress");
    // Read (and drop) the body so the client gets this answer.
    std::string why;
    feed(
        nullptr, [](size_t) {}, why);
    return out;
  }
  set([total](firmware_upload_progress& p) {
    p = firmware_upload_progress{};
    p.state = "receiving";
    p.total = total;
  });
  out.error = install(feed, force, out);
  if (out.error) {
    auto why = runtime::describe(out.error);
    log()->error("firmware upload refused: {}", why);
    set([&why](firmware_upload_progress& p) {
      p.state = "failed";
      p.error = why;
    });
  } else {
    log()->info("firmware {} {} installed in slot {}; slot {} is active and not validated yet",
                out.manifest.product, out.manifest.version, out.slot, out.slot);
    set([](firmware_upload_progress& p) { p.state = "done"; });
  }
  busy_ = false;
  return out;
}

caf::error firmware_upload::install(const body_feed& feed, bool force,
                                    firmware_upload_outcome& out) {
  auto drop_body = [&feed] {
    std::string why;
    feed(
        nullptr, [](size_t) {}, why);
  };
  auto status = firmware_status_of(sys_);
  if (!status) {
    drop_body();
    return status.error();
  }
  auto active = status->active;
  auto target = runtime::other_slot(active);
  if (target.empty()) {
    drop_body();
    return runtime::make_error(runtime::firmware_errc::unknown_slot,
                               "the active slot '" + active + "' is neither a nor b");
  }
  const auto& path = target == "a" ? opts_.slot_a : opts_.slot_b;
  const auto& running = target == "a" ? opts_.slot_b : opts_.slot_a;
  if (same_file(path, running)) {
    drop_body();
    return runtime::make_error(
        firmware_file_errc::io_error,
        "slots a and b are the same (" + path + "): refusing to overwrite the running firmware");
  }
  if (status->validation == runtime::validation::unvalidated && !force) {
    // The other slot is what the bootloader falls back to if this firmware
    // fails: overwriting it now could leave nothing that boots.
    drop_body();
    return runtime::make_error(
        runtime::firmware_errc::unvalidated,
        "the running firmware (slot " + active + ") is not validated yet and slot " + target +
            " is its fallback: validate or revert first (myelin fw validate, myelin fw "
            "revert), or push with --force to overwrite the fallback");
  }
  out.slot = target;
  set([&target](firmware_upload_progress& p) { p.slot = target; });

  byte_pipe pipe{opts_.buffer_bytes};
  std::optional<runtime::firmware_slot_writer> slot;
  caf::expected<runtime::firmware_read_result> result{caf::error{}};
  auto install_body = [&] {
    runtime::firmware_read_options ro;
    ro.trusted = opts_.trusted;
    ro.on_manifest = [&](const runtime::firmware_manifest& m) -> caf::error {
      if (m.platform != opts_.platform || m.architecture != opts_.architecture) {
        return runtime::make_error(firmware_file_errc::wrong_target,
                                   "firmware is for " + m.platform + "/" + m.architecture +
                                       ", this device is " + opts_.platform + "/" +
                                       opts_.architecture);
      }
      // Anti-rollback, on the signed manifest, before the slot is touched.
      auto kv = kv_of(sys_);
      if (!kv) {
        return kv.error();
      }
      if (auto why = rollback_refusal(m, *kv, active, opts_); !why.empty()) {
        return runtime::make_error(firmware_file_errc::rollback, why);
      }
      const auto* rootfs = m.find(runtime::rootfs_resource);
      // The slot's metadata goes before its first byte: a slot torn by a
      // power cut or a broken upload holds no firmware to anyone, the
      // bootloader and revert included.
      if (auto err = forget_slot(sys_, target)) {
        return err;
      }
      if (!opts_.slot_dir.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(opts_.slot_dir, ec);
      }
      auto w = runtime::firmware_slot_writer::open(path, rootfs->size, opts_.file_slot_size);
      if (!w) {
        return w.error();
      }
      slot.emplace(std::move(*w));
      set([&m](firmware_upload_progress& p) { p.version = m.version; });
      return {};
    };
    ro.on_data = [&](const runtime::firmware_resource& r, const char* data,
                     size_t size) -> caf::error {
      if (r.name != runtime::rootfs_resource) {
        return {};  // other resources are verified, not installed (yet)
      }
      auto err = slot->write(data, size);
      auto written = slot->written();
      set([written](firmware_upload_progress& p) { p.written = written; });
      return err;
    };
    runtime::firmware_lending_source source = [&pipe] { return pipe.pull_lent(); };
    result = runtime::read_firmware(source, ro);
    pipe.stop_consuming();
  };
  // A failure of the installer is a failed upload, never std::terminate.
  std::thread installer =
      runtime::guarded_thread("fw.install", install_body, [&](const std::string& why) {
        result = runtime::make_error(firmware_file_errc::io_error, "the installer failed: " + why);
        pipe.stop_consuming();
      });
  std::string why;
  bool complete = feed(
      &pipe, [this](size_t size) { set([size](firmware_upload_progress& p) { p.bytes += size; }); },
      why);
  pipe.close(complete);
  installer.join();
  if (!complete && !why.empty() &&
      (result || (result.error().category() == caf::atom("fwfile") &&
                  result.error().code() == static_cast<uint8_t>(firmware_file_errc::truncated)))) {
    // The connection's own reason (malformed framing, a timeout) says more
    // than "truncated".
    return runtime::make_error(firmware_file_errc::truncated, "the upload broke off: " + why);
  }
  if (!result) {
    return result.error();
  }
  if (!complete) {
    return runtime::make_error(firmware_file_errc::truncated,
                               "the upload broke off after the end of the firmware file");
  }
  set([](firmware_upload_progress& p) { p.state = "switching"; });
  if (auto err = slot->finish()) {
    return err;
  }
  log()->debug("slot {}: {} bytes written, {} of them around the page cache", target,
               slot->written(), slot->written_direct());
  out.manifest = result->manifest;
  // The firmware service switches in one atomic read-modify-write: either all
  // of the new slot's metadata and the switch, or nothing (kill -9 included:
  // the environment is redundant). It tells the overlays service.
  return switch_to(sys_, result->manifest, target, active);
}

}  // namespace myelin::actors
