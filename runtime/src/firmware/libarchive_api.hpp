// libarchive, loaded when a firmware file is first read or written
// (decision 0065): myelin-boot needs it only for a firmware upload, and
// linking it would map libarchive, libxml2, ICU, nettle and five
// compression libraries into every boot (≈ 2 MB of RSS, ≈ 2.5 ms of
// loading). Private to runtime/.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <caf/error.hpp>

namespace myelin::runtime {

/// The libarchive functions myelin uses, named without their `archive_` prefix.
struct libarchive_api {
  decltype(&::archive_read_free) read_free;
  decltype(&::archive_write_free) write_free;
  decltype(&::archive_set_error) set_error;
  decltype(&::archive_error_string) error_string;
  decltype(&::archive_read_next_header) read_next_header;
  decltype(&::archive_entry_filetype) entry_filetype;
  decltype(&::archive_entry_hardlink) entry_hardlink;
  decltype(&::archive_entry_symlink) entry_symlink;
  decltype(&::archive_entry_size_is_set) entry_size_is_set;
  decltype(&::archive_entry_pathname) entry_pathname;
  decltype(&::archive_entry_size) entry_size;
  decltype(&::archive_read_data) read_data;
  decltype(&::archive_read_data_block) read_data_block;
  decltype(&::archive_entry_new) entry_new;
  decltype(&::archive_entry_free) entry_free;
  decltype(&::archive_entry_set_pathname) entry_set_pathname;
  decltype(&::archive_entry_set_size) entry_set_size;
  decltype(&::archive_entry_set_filetype) entry_set_filetype;
  decltype(&::archive_entry_set_perm) entry_set_perm;
  decltype(&::archive_entry_set_mtime) entry_set_mtime;
  decltype(&::archive_write_header) write_header;
  decltype(&::archive_write_data) write_data;
  decltype(&::archive_write_new) write_new;
  decltype(&::archive_write_set_format_pax_restricted) write_set_format_pax_restricted;
  decltype(&::archive_write_add_filter_none) write_add_filter_none;
  decltype(&::archive_write_set_bytes_in_last_block) write_set_bytes_in_last_block;
  decltype(&::archive_write_open_filename) write_open_filename;
  decltype(&::archive_write_close) write_close;
  decltype(&::archive_read_new) read_new;
  decltype(&::archive_read_support_format_tar) read_support_format_tar;
  decltype(&::archive_read_open) read_open;
};

/// Loads libarchive once (thread-safe); the same error on every call if it
/// cannot be loaded. Errors: firmware_file_errc::io_error.
caf::error load_libarchive();

/// The loaded functions; only after load_libarchive() succeeded.
const libarchive_api& libarchive();

}  // namespace myelin::runtime
