// Loading libarchive on first use (see libarchive_api.hpp).
#include "firmware/libarchive_api.hpp"

#include <dlfcn.h>

#include <mutex>
#include <string>

#include "myelin/runtime/firmware/firmware_manifest.hpp"

namespace myelin::runtime {

namespace {

libarchive_api api;
caf::error load_error;
std::once_flag loaded;

void load() {
  void* lib = ::dlopen(MYELIN_LIBARCHIVE_SONAME, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = ::dlerror();
    load_error = make_error(
        firmware_file_errc::io_error,
        std::string{"cannot load " MYELIN_LIBARCHIVE_SONAME " to read or write firmware files: "} +
            (why != nullptr ? why : "unknown error"));
    return;
  }
  std::string missing;
  auto resolve = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(lib, name));
    if (fn == nullptr) {
      missing += missing.empty() ? name : std::string{", "} + name;
    }
  };
  resolve(api.read_free, "archive_read_free");
  resolve(api.write_free, "archive_write_free");
  resolve(api.set_error, "archive_set_error");
  resolve(api.error_string, "archive_error_string");
  resolve(api.read_next_header, "archive_read_next_header");
  resolve(api.entry_filetype, "archive_entry_filetype");
  resolve(api.entry_hardlink, "archive_entry_hardlink");
  resolve(api.entry_symlink, "archive_entry_symlink");
  resolve(api.entry_size_is_set, "archive_entry_size_is_set");
  resolve(api.entry_pathname, "archive_entry_pathname");
  resolve(api.entry_size, "archive_entry_size");
  resolve(api.read_data, "archive_read_data");
  resolve(api.read_data_block, "archive_read_data_block");
  resolve(api.entry_new, "archive_entry_new");
  resolve(api.entry_free, "archive_entry_free");
  resolve(api.entry_set_pathname, "archive_entry_set_pathname");
  resolve(api.entry_set_size, "archive_entry_set_size");
  resolve(api.entry_set_filetype, "archive_entry_set_filetype");
  resolve(api.entry_set_perm, "archive_entry_set_perm");
  resolve(api.entry_set_mtime, "archive_entry_set_mtime");
  resolve(api.write_header, "archive_write_header");
  resolve(api.write_data, "archive_write_data");
  resolve(api.write_new, "archive_write_new");
  resolve(api.write_set_format_pax_restricted, "archive_write_set_format_pax_restricted");
  resolve(api.write_add_filter_none, "archive_write_add_filter_none");
  resolve(api.write_set_bytes_in_last_block, "archive_write_set_bytes_in_last_block");
  resolve(api.write_open_filename, "archive_write_open_filename");
  resolve(api.write_close, "archive_write_close");
  resolve(api.read_new, "archive_read_new");
  resolve(api.read_support_format_tar, "archive_read_support_format_tar");
  resolve(api.read_open, "archive_read_open");
  if (!missing.empty()) {
    load_error =
        make_error(firmware_file_errc::io_error, MYELIN_LIBARCHIVE_SONAME " lacks " + missing);
  }
}

}  // namespace

caf::error load_libarchive() {
  std::call_once(loaded, load);
  return load_error;
}

const libarchive_api& libarchive() {
  return api;
}

}  // namespace myelin::runtime
