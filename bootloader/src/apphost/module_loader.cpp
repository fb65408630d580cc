// Loading an application module.
#include "apphost/module_loader.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

namespace myelin::bootloader {

std::string to_string(module_errc x) {
  switch (x) {
    case module_errc::not_found:
      return "not_found";
    case module_errc::load_failed:
      return "load_failed";
    case module_errc::no_entry_point:
      return "no_entry_point";
    case module_errc::abi_mismatch:
      return "abi_mismatch";
    case module_errc::bad_definition:
      return "bad_definition";
  }
  return "module_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(module_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("module"),
                    caf::make_message(std::move(context))};
}

namespace {

std::string abi_text(uint32_t sdk, uint32_t caf, uint32_t cxx11, uint32_t gcc) {
  return "SDK ABI " + std::to_string(sdk) + ", CAF " + std::to_string(caf) + ", C++11 ABI " +
         std::to_string(cxx11) + ", GCC " + std::to_string(gcc);
}

}  // namespace

caf::expected<loaded_module> load_module(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return make_error(module_errc::not_found, "module " + path + " not found");
  }
  // RTLD_LOCAL: modules do not see each other's symbols; RTLD_NOW: a missing
  // symbol is an error now, not a crash later.
  void* raw = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (raw == nullptr) {
    const char* why = ::dlerror();
    return make_error(module_errc::load_failed,
                      "cannot load module " + path + ": " + (why != nullptr ? why : "?"));
  }
  std::shared_ptr<void> handle{raw, [](void* h) { ::dlclose(h); }};
  using entry_fn = const app::module_info* (*)();
  auto entry = reinterpret_cast<entry_fn>(::dlsym(raw, MYELIN_APP_ENTRY_NAME));
  if (entry == nullptr) {
    return make_error(module_errc::no_entry_point, "module " + path +
                                                       " has no " MYELIN_APP_ENTRY_NAME
                                                       " entry point (is MYELIN_APP missing?)");
  }
  const auto* info = entry();
  if (info == nullptr) {
    return make_error(module_errc::bad_definition, "module " + path + " returned no module info");
  }
  if (info->sdk_abi != app::abi::sdk || info->caf_version != app::abi::caf ||
      info->cxx11_abi != app::abi::cxx11_abi || info->gcc_major != app::abi::gcc_major) {
    return make_error(
        module_errc::abi_mismatch,
        "module " + path + " was built for " +
            abi_text(info->sdk_abi, info->caf_version, info->cxx11_abi, info->gcc_major) +
            "; this host has " +
            abi_text(app::abi::sdk, app::abi::caf, app::abi::cxx11_abi, app::abi::gcc_major));
  }
  if (info->app == nullptr || !info->app->start) {
    return make_error(module_errc::bad_definition, "module " + path + " defines no start function");
  }
  return loaded_module{path, info->app, std::move(handle)};
}

}  // namespace myelin::bootloader
