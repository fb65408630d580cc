// Streaming a file to a device as a chunked HTTP/1.1 POST with sendfile(2)
// (plain HTTP only; HTTPS uploads go through cpp-httplib).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>

#include "myelin/tools/device_client.hpp"

namespace myelin::tools {

/// POSTs `size` bytes of the open file `fd` (from offset 0) to `path` on the
/// device, chunked (`Transfer-Encoding: chunked`, 4 MiB chunks, each body sent
/// with sendfile(2): no copy through user space), with `headers` added, and
/// returns the HTTP status and the answer's body. `progress` is called with
/// the bytes sent so far after each chunk. `dev` must be plain HTTP (no `ca`).
/// Errors: unreachable (no connection, or the connection broke before an
/// answer), bad_response (an answer that is not HTTP).
caf::expected<std::pair<int, std::string>> post_file_chunked(
    const device_address& dev, const std::string& path,
    const std::vector<std::pair<std::string, std::string>>& headers, int fd, uint64_t size,
    const std::function<void(uint64_t)>& progress);

}  // namespace myelin::tools
