// Boot step: the application partition, before the services that use state.dir.
#include "boot/app_partition_boot.hpp"

#include <spdlog/spdlog.h>

namespace myelin::bootloader {

std::shared_ptr<runtime::app_partition> prepare_app_partition(const runtime::config& cfg,
                                                              const std::string& state_dir) {
  auto log = spdlog::get("boot");
  if (!log) {
    log = spdlog::default_logger();
  }
  auto partition = runtime::make_app_partition(cfg, state_dir);
  auto s = partition->prepare();
  if (s.kind != "mount") {
    log->debug("app partition: {}", s.summary());
    return partition;
  }
  switch (s.outcome) {
    case runtime::partition_outcome::formatted:
      log->warn("app partition: {}", s.summary());
      break;
    case runtime::partition_outcome::unavailable:
      log->critical("app partition: {}", s.summary());
      break;
    default:
      log->info("app partition: {}", s.summary());
  }
  auto target = runtime::resolve_path(s.target);
  auto state = runtime::resolve_path(state_dir);
  if (state != target && state.rfind(target + "/", 0) != 0) {
    log->warn(
        "app partition: state.dir {} is not inside app_partition.target {}: the state is "
        "not on the partition",
        state_dir, s.target);
  }
  return partition;
}

}  // namespace myelin::bootloader
