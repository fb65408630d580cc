// The boot step that makes the state directory's storage available: the
// application partition ([app_partition]) or, in host mode, a plain directory.
#pragma once

#include <memory>
#include <string>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/partition/app_partition.hpp"

namespace myelin::bootloader {

/// Prepares the partition [app_partition] configures (mount, remount
/// read-write, or format; a tmpfs fallback when all fails) and logs what
/// happened — loudly when the state is not durable. Never fails the boot.
std::shared_ptr<runtime::app_partition> prepare_app_partition(const runtime::config& cfg,
                                                              const std::string& state_dir);

}  // namespace myelin::bootloader
