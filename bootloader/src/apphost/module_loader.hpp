// Loading an application module: dlopen, the entry point, the ABI check.
#pragma once

#include <memory>
#include <string>

#include <caf/expected.hpp>

#include "myelin/app.hpp"

namespace myelin::bootloader {

/// Errors of loading a module (category "module"); the context says which
/// module and why.
enum class module_errc : uint8_t {
  /// The file does not exist.
  not_found = 1,
  /// dlopen refused it (the context carries dlerror()).
  load_failed,
  /// It exports no MYELIN_APP entry point.
  no_entry_point,
  /// Built against another SDK, CAF or C++ ABI.
  abi_mismatch,
  /// The entry point returned no app definition or no start function.
  bad_definition,
};

std::string to_string(module_errc x);

caf::error make_error(module_errc x, std::string context);

/// A loaded module; dlclose'd when the last reference goes.
struct loaded_module {
  std::string path;
  const app::definition* app = nullptr;
  std::shared_ptr<void> handle;
};

/// Loads the module at `path` and checks that its ABI is the host's.
caf::expected<loaded_module> load_module(const std::string& path);

}  // namespace myelin::bootloader
