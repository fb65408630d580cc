// Replacing a small file so that a power cut leaves the old or the new
// contents, never a mix or nothing.
#pragma once

#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace myelin::runtime {

/// Writes `data` to `path.tmp`, fsyncs it, renames it over `path` and fsyncs
/// the directory (created if missing). Errors: sec::runtime_error naming the
/// step and errno.
caf::error write_file_durably(const std::string& path, std::string_view data, unsigned mode = 0644);

}  // namespace myelin::runtime
