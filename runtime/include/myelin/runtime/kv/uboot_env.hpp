// The U-Boot environment as a KV backend, through libubootenv (what
// fw_printenv/fw_setenv use): single or redundant copies on block devices, MTD
// or plain files, described by a fw_env.config file.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "myelin/runtime/kv/kv_backend.hpp"

namespace myelin::runtime {

/// One copy of the environment, as a line of fw_env.config describes it:
/// `device offset size [sector-size [sectors]]` (numbers decimal or 0x-hex;
/// a negative offset counts from the end of the device).
struct env_device {
  std::string path;
  int64_t offset = 0;
  uint64_t size = 0;
  uint64_t sector_size = 0;
  uint64_t sectors = 0;
};

/// Parses fw_env.config text: one or two devices (two = redundant), `#`
/// comments and blank lines ignored. Errors: bad_config naming the line.
caf::expected<std::vector<env_device>> parse_fw_env_config(std::string_view text,
                                                           const std::string& origin);

/// The U-Boot environment described by a fw_env.config file.
///
/// Every read and write opens the environment afresh (no contents are
/// cached), so changes made meanwhile by fw_setenv are seen, and a failed
/// write leaves nothing half-applied in memory. The fw_env.config is parsed
/// once (the first time it parses; libubootenv reads it again itself on each
/// open: its libuboot_configure() of 0.3.2 cannot describe a single copy).
class uboot_env_backend : public kv_backend {
 public:
  /// `defaults`: the environment U-Boot starts from without a valid copy
  /// (its u-boot-initial-env); a write that finds no valid copy writes them
  /// plus the new keys.
  explicit uboot_env_backend(std::string config_path, kv_map defaults = {});

  /// Errors: bad_config (config missing or malformed), unreadable (a device
  /// is missing, or no copy has a valid CRC).
  caf::expected<kv_map> read() override;

  /// Errors: invalid_key, too_large (nothing written), write_failed,
  /// bad_config. When no copy is valid, writes a fresh environment: the
  /// defaults plus the changes (write_failed, nothing written, without
  /// defaults — only the new keys would leave U-Boot without bootcmd). When
  /// the devices are plain files that do not exist yet, creates them first.
  caf::error write(const kv_changes& changes) override;

  /// One read (the merge) and one write; the contents are those written.
  caf::expected<kv_map> write_and_read(const kv_changes& changes) override;

  std::string describe() const override;

  /// Set once a write rebuilt an environment that had no valid copy.
  std::string notice() const override { return notice_; }

  const std::string& config_path() const { return config_path_; }

 private:
  /// The devices of fw_env.config, parsed once. Errors: bad_config.
  caf::expected<std::vector<env_device>> devices();
  caf::expected<kv_map> write_merged(const kv_changes& changes);

  std::string config_path_;
  kv_map defaults_;
  std::string notice_;
  std::optional<std::vector<env_device>> devices_;
};

/// Host mode: a redundant U-Boot environment in `<dir>/uboot.env` (two copies
/// of `size` bytes each) with its `<dir>/fw_env.config`, so that fw_printenv
/// -c works on it too. Creates both if missing, writing `initial` into a new
/// environment; an existing one is kept as it is (it persists across restarts).
caf::expected<std::unique_ptr<uboot_env_backend>> open_file_env(const std::string& dir,
                                                                uint64_t size,
                                                                const kv_changes& initial);

}  // namespace myelin::runtime
