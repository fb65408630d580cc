// The overlay store: manifests, bundles, the stack, resolution, transactional apply.
#include "myelin/runtime/overlays/overlay_store.hpp"
#include "myelin/runtime/platform/durable_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

#include "myelin/runtime/config/config.hpp"
#include "platform/split.hpp"

namespace myelin::runtime {

namespace fs = std::filesystem;

// -- errors -------------------------------------------------------------------

std::string to_string(overlay_errc x) {
  switch (x) {
    case overlay_errc::bad_format:
      return "bad_format";
    case overlay_errc::bad_signature:
      return "bad_signature";
    case overlay_errc::hash_mismatch:
      return "hash_mismatch";
    case overlay_errc::too_large:
      return "too_large";
    case overlay_errc::bad_path:
      return "bad_path";
    case overlay_errc::unknown_app:
      return "unknown_app";
    case overlay_errc::io_error:
      return "io_error";
    case overlay_errc::no_last_good:
      return "no_last_good";
    case overlay_errc::bad_settings:
      return "bad_settings";
    case overlay_errc::unavailable:
      return "unavailable";
    case overlay_errc::stale:
      return "stale";
  }
  return "overlay_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(overlay_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("overlay"),
                    caf::make_message(std::move(context))};
}

namespace {

constexpr std::string_view bundle_header = "myelin-overlay 1\n";
constexpr std::string_view manifest_header = "myelin-overlay-manifest 1\n";
constexpr std::string_view stack_header = "myelin-overlay-stack 1\n";

caf::error io_error(const std::string& what, int err = errno) {
  return make_error(overlay_errc::io_error, what + ": " + std::strerror(err));
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool valid_app_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '-';
  });
}

bool is_new_app_name(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::isalpha(static_cast<unsigned char>(s[0])) != 0 &&
         std::all_of(s.begin(), s.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_';
         });
}

template <class T>
bool parse_number(std::string_view s, T& out, int base = 10) {
  if (s.empty()) {
    return false;
  }
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out, base);
  return ec == std::errc{} && end == s.data() + s.size();
}

std::optional<std::string> read_text(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes a new file (it must not exist) and fsyncs it (unless `sync` is false).
caf::error write_new_file(const std::string& path, std::string_view data, uint32_t mode,
                          bool sync = true) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) {
    return io_error("create " + path);
  }
  // The umask must not change what the manifest says.
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      auto err = errno;
      ::close(fd);
      return io_error("write " + path, err);
    }
    done += static_cast<size_t>(n);
  }
  if (sync && ::fsync(fd) != 0) {
    auto err = errno;
    ::close(fd);
    return io_error("fsync " + path, err);
  }
  if (::close(fd) != 0) {
    return io_error("close " + path);
  }
  return {};
}

/// True if every file of the overlay in `dir` has its manifest size: a
/// volatile overlay is written without fsync, so after a power loss (host
/// mode keeps volatile overlays on disk) it may be torn.
bool sizes_intact(const std::string& dir) {
  auto text = read_text(dir + "/manifest");
  if (!text) {
    return false;
  }
  auto m = parse_manifest(*text);
  if (!m) {
    return false;
  }
  for (const auto& f : m->files) {
    struct stat st {};
    if (::stat((dir + "/files/" + f.path).c_str(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) != f.size) {
      return false;
    }
  }
  return true;
}

/// fsyncs an existing file or directory (`flags`: O_DIRECTORY for one).
caf::error fsync_path(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | flags);
  if (fd < 0) {
    return io_error("open " + path);
  }
  int rc = ::fsync(fd);
  auto err = errno;
  ::close(fd);
  return rc == 0 ? caf::error{} : io_error("fsync " + path, err);
}

caf::error fsync_dir(const std::string& path) {
  return fsync_path(path, O_DIRECTORY);
}

caf::error fsync_file(const std::string& path) {
  return fsync_path(path, 0);
}

/// Replaces `file` atomically: write a temporary, fsync, rename, fsync the dir.
caf::error replace_file(const std::string& file, std::string_view data,
                        const std::function<void(int)>& crash_point = nullptr) {
  auto tmp = file + ".tmp";
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return io_error("create " + tmp);
  }
  auto fail = [&](const std::string& what) {
    auto err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_error(what, err);
  };
  size_t done = 0;
  while (done < data.size()) {
    auto n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return fail("write " + tmp);
    }
    done += static_cast<size_t>(n);
  }
  if (crash_point) {
    crash_point(8);
  }
  if (::fsync(fd) != 0) {
    return fail("fsync " + tmp);
  }
  ::close(fd);
  if (crash_point) {
    crash_point(9);
  }
  if (::rename(tmp.c_str(), file.c_str()) != 0) {
    auto err = errno;
    ::unlink(tmp.c_str());
    return io_error("rename " + tmp, err);
  }
  if (crash_point) {
    crash_point(10);
  }
  return fsync_dir(fs::path{file}.parent_path().string());
}

bool is_overlay_dir_name(std::string_view name) {
  auto dash = name.find('-');
  if (dash == std::string_view::npos || dash == 0) {
    return false;
  }
  uint64_t seq = 0;
  return parse_number(name.substr(0, dash), seq) && name.size() - dash - 1 == 16;
}

uint64_t seq_of(std::string_view name) {
  uint64_t seq = 0;
  parse_number(name.substr(0, name.find('-')), seq);
  return seq;
}

std::string format_stack(const std::vector<stack_entry>& entries) {
  std::string out{stack_header};
  for (const auto& e : entries) {
    out += (e.persistent ? "p " : "v ") + e.name + "\n";
  }
  return out;
}

/// Parses a stack file; nullopt if it is malformed.
std::optional<std::vector<stack_entry>> parse_stack(std::string_view text) {
  if (text.substr(0, stack_header.size()) != stack_header || text.back() != '\n') {
    return std::nullopt;
  }
  text.remove_prefix(stack_header.size());
  std::vector<stack_entry> out;
  for (auto line : split(text.substr(0, text.empty() ? 0 : text.size() - 1), '\n')) {
    if (line.empty() && text.empty()) {
      break;
    }
    if (line.size() < 3 || (line[0] != 'p' && line[0] != 'v') || line[1] != ' ' ||
        !is_overlay_dir_name(line.substr(2))) {
      return std::nullopt;
    }
    out.push_back({std::string{line.substr(2)}, line[0] == 'p'});
  }
  return out;
}

constexpr std::string_view aside_header = "myelin-overlays-aside 1\n";

/// The aside file: the header, "for <slot> <uuid|->", then "s p|v <name>"
/// (stack) and "g p|v <name>" (last-good) lines.
std::string format_aside(const set_aside_overlays& a) {
  std::string out{aside_header};
  out += "for " + a.slot + " " + (a.uuid.empty() ? std::string{"-"} : a.uuid) + "\n";
  for (const auto& e : a.stack) {
    out += std::string{"s "} + (e.persistent ? "p " : "v ") + e.name + "\n";
  }
  for (const auto& e : a.last_good) {
    out += std::string{"g "} + (e.persistent ? "p " : "v ") + e.name + "\n";
  }
  return out;
}

/// Parses an aside file; nullopt if it is malformed.
std::optional<set_aside_overlays> parse_aside(std::string_view text) {
  if (text.substr(0, aside_header.size()) != aside_header || text.back() != '\n') {
    return std::nullopt;
  }
  text.remove_prefix(aside_header.size());
  auto lines = split(text.substr(0, text.size() - 1), '\n');
  if (lines.empty()) {
    return std::nullopt;
  }
  auto head = split(lines[0], ' ');
  if (head.size() != 3 || head[0] != "for" || (head[1] != "a" && head[1] != "b") ||
      head[2].empty() || head[2].size() > 64) {
    return std::nullopt;
  }
  set_aside_overlays a;
  a.slot = std::string{head[1]};
  a.uuid = head[2] == "-" ? std::string{} : std::string{head[2]};
  for (size_t i = 1; i < lines.size(); ++i) {
    auto line = lines[i];
    if (line.size() < 5 || (line[0] != 's' && line[0] != 'g') || line[1] != ' ' ||
        (line[2] != 'p' && line[2] != 'v') || line[3] != ' ' ||
        !is_overlay_dir_name(line.substr(4))) {
      return std::nullopt;
    }
    (line[0] == 's' ? a.stack : a.last_good)
        .push_back({std::string{line.substr(4)}, line[2] == 'p'});
  }
  return a;
}

/// A bundle taken apart (views into the bundle's bytes).
struct parsed_bundle {
  overlay_manifest manifest;
  std::string_view manifest_text;
  std::string signature_text;
  std::vector<std::string_view> contents;
};

/// Takes the next '\n'-terminated line off `in` (at most `limit` bytes).
std::optional<std::string_view> take_line(std::string_view& in, size_t limit = 256) {
  auto nl = in.substr(0, limit).find('\n');
  if (nl == std::string_view::npos) {
    return std::nullopt;
  }
  auto line = in.substr(0, nl);
  in.remove_prefix(nl + 1);
  return line;
}

caf::expected<parsed_bundle> parse_bundle(std::string_view in, const overlay_store_options& opts) {
  if (in.size() > opts.max_bytes) {
    return make_error(overlay_errc::too_large, "the overlay is " + std::to_string(in.size()) +
                                                   " bytes; the device accepts at most " +
                                                   std::to_string(opts.max_bytes));
  }
  if (in.substr(0, bundle_header.size()) != bundle_header) {
    return make_error(overlay_errc::bad_format, "not a myelin overlay (bad header)");
  }
  in.remove_prefix(bundle_header.size());
  auto line = take_line(in);
  uint64_t manifest_size = 0;
  if (!line || line->substr(0, 9) != "manifest " || !parse_number(line->substr(9), manifest_size)) {
    return make_error(overlay_errc::bad_format, "the overlay has no 'manifest <size>' line");
  }
  if (manifest_size > in.size()) {
    return make_error(overlay_errc::bad_format, "truncated overlay: the manifest is cut short");
  }
  parsed_bundle out;
  out.manifest_text = in.substr(0, manifest_size);
  in.remove_prefix(manifest_size);
  line = take_line(in);
  if (!line || line->substr(0, 10) != "signature ") {
    return make_error(overlay_errc::bad_format,
                      in.empty() ? "truncated overlay: no signature line"
                                 : "the overlay has no 'signature' line after the manifest");
  }
  out.signature_text = std::string{line->substr(10)};
  // The signature first: nothing else of an unauthenticated bundle is trusted.
  if (out.signature_text == "none") {
    if (!opts.allow_unsigned) {
      return make_error(overlay_errc::bad_signature,
                        "the overlay is not signed and this device accepts only signed overlays "
                        "(push with --key)");
    }
  } else {
    auto sig = parse_signature(out.signature_text);
    if (!sig) {
      return make_error(overlay_errc::bad_signature, "the overlay's signature is malformed");
    }
    if (opts.trusted_keys.empty()) {
      return make_error(overlay_errc::bad_signature,
                        "the overlay is signed but the device trusts no key "
                        "(overlays.trusted_keys is empty)");
    }
    if (!verify_any(opts.trusted_keys, out.manifest_text, *sig)) {
      return make_error(overlay_errc::bad_signature,
                        "the overlay's signature does not verify under any of the " +
                            std::to_string(opts.trusted_keys.size()) + " trusted key(s)");
    }
  }
  auto manifest = parse_manifest(out.manifest_text);
  if (!manifest) {
    return manifest.error();
  }
  out.manifest = std::move(*manifest);
  for (const auto& app : out.manifest.apps) {
    if (opts.known_apps.count(app) != 0) {
      continue;
    }
    if (!opts.allow_new_apps) {
      return make_error(overlay_errc::unknown_app,
                        "the device has no app '" + app +
                            "' and accepts no new ones (overlays.allow_new_apps = false)");
    }
    if (!is_new_app_name(app)) {
      return make_error(overlay_errc::bad_path,
                        "'" + app +
                            "' is not a name for a new app (a letter, then at most 63 letters, "
                            "digits or _)");
    }
  }
  uint64_t expected = 0;
  for (const auto& f : out.manifest.files) {
    expected += f.size;
  }
  if (in.size() < expected) {
    return make_error(overlay_errc::bad_format, "truncated overlay: " + std::to_string(expected) +
                                                    " bytes of file data announced, " +
                                                    std::to_string(in.size()) + " sent");
  }
  if (in.size() > expected) {
    return make_error(
        overlay_errc::bad_format,
        "the overlay has " + std::to_string(in.size() - expected) + " bytes after its last file");
  }
  for (const auto& f : out.manifest.files) {
    auto data = in.substr(0, f.size);
    in.remove_prefix(f.size);
    if (sha256_hex(data) != f.sha256) {
      return make_error(overlay_errc::hash_mismatch,
                        f.path + ": the contents do not match the manifest's SHA-256");
    }
    out.contents.push_back(data);
  }
  return out;
}

/// Removes a directory tree, ignoring errors.
void remove_tree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
}

}  // namespace

// -- manifests and bundles ----------------------------------------------------

caf::error check_overlay_path(std::string_view path) {
  auto bad = [&](const std::string& why) {
    return make_error(overlay_errc::bad_path, "path '" + std::string{path} + "': " + why);
  };
  if (path.empty() || path.size() > 1024) {
    return bad("empty or longer than 1024 bytes");
  }
  if (path.front() == '/') {
    return bad("absolute paths are not allowed");
  }
  for (unsigned char c : path) {
    if (c <= 0x20 || c == 0x7f) {
      return bad("whitespace and control characters are not allowed");
    }
  }
  auto parts = split(path, '/');
  for (auto p : parts) {
    if (p.empty() || p == "." || p == "..") {
      return bad("empty, '.' and '..' components are not allowed");
    }
  }
  if (parts.size() < 2) {
    return bad("must be <app>/<file>");
  }
  if (!valid_app_name(parts[0])) {
    return bad("'" + std::string{parts[0]} + "' is not an app name");
  }
  return {};
}

std::string format_manifest(const overlay_manifest& m) {
  std::string out{manifest_header};
  for (const auto& a : m.apps) {
    out += "app " + a + "\n";
  }
  if (m.persist) {
    out += "persist\n";
  }
  if (!m.firmware.empty()) {
    out += "firmware " + m.firmware + "\n";
  }
  if (m.sequence > 0) {
    out += "sequence " + std::to_string(m.sequence) + "\n";
  }
  for (const auto& f : m.files) {
    char mode[16];
    std::snprintf(mode, sizeof(mode), "%04o", f.mode);
    out += "file " + f.sha256 + " " + std::to_string(f.size) + " " + mode + " " + f.path + "\n";
  }
  for (const auto& w : m.whiteouts) {
    out += "whiteout " + w + "\n";
  }
  return out;
}

caf::expected<overlay_manifest> parse_manifest(std::string_view text) {
  auto bad = [](const std::string& why) {
    return make_error(overlay_errc::bad_format, "manifest: " + why);
  };
  if (text.substr(0, manifest_header.size()) != manifest_header) {
    return bad("missing 'myelin-overlay-manifest 1' header");
  }
  text.remove_prefix(manifest_header.size());
  if (!text.empty() && text.back() != '\n') {
    return bad("the last line is not terminated");
  }
  overlay_manifest m;
  std::set<std::string> paths;
  std::set<std::string> app_set;
  size_t line_no = 1;
  auto add_path = [&](std::string_view p) -> caf::error {
    if (auto err = check_overlay_path(p)) {
      return err;
    }
    auto app = std::string{p.substr(0, p.find('/'))};
    if (app_set.count(app) == 0) {
      return make_error(overlay_errc::bad_path,
                        "path '" + std::string{p} + "' is outside the manifest's apps");
    }
    if (!paths.emplace(p).second) {
      return bad("'" + std::string{p} + "' appears twice");
    }
    return {};
  };
  while (!text.empty()) {
    ++line_no;
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text.remove_prefix(nl + 1);
    auto where = "line " + std::to_string(line_no) + ": ";
    auto fields = split(line, ' ');
    if (fields[0] == "app" && fields.size() == 2) {
      if (!m.files.empty() || !m.whiteouts.empty()) {
        return bad(where + "'app' lines come first");
      }
      if (!valid_app_name(fields[1])) {
        return bad(where + "'" + std::string{fields[1]} + "' is not an app name");
      }
      if (!app_set.emplace(fields[1]).second) {
        return bad(where + "app '" + std::string{fields[1]} + "' appears twice");
      }
      m.apps.emplace_back(fields[1]);
    } else if (line == "persist") {
      m.persist = true;
    } else if (fields[0] == "firmware" && fields.size() == 2) {
      if (!m.firmware.empty() || fields[1].empty() || fields[1].size() > 128) {
        return bad(where + "one 'firmware <uuid>' of at most 128 characters");
      }
      m.firmware = std::string{fields[1]};
    } else if (fields[0] == "sequence" && fields.size() == 2) {
      if (m.sequence != 0 || !parse_number(fields[1], m.sequence) || m.sequence == 0) {
        return bad(where + "one 'sequence <n>' with n from 1");
      }
    } else if (fields[0] == "file" && fields.size() == 5) {
      overlay_file f;
      if (!is_hex64(fields[1])) {
        return bad(where + "the hash must be 64 lowercase hex digits");
      }
      if (!parse_number(fields[2], f.size) || f.size > (1ull << 40)) {
        return bad(where + "bad size");
      }
      if (!parse_number(fields[3], f.mode, 8) || f.mode > 0777) {
        return make_error(overlay_errc::bad_path,
                          "manifest " + where +
                              "mode must be permission bits only (no symlinks, devices, setuid)");
      }
      if (auto err = add_path(fields[4])) {
        return err;
      }
      f.sha256 = std::string{fields[1]};
      f.path = std::string{fields[4]};
      m.files.push_back(std::move(f));
    } else if (fields[0] == "whiteout" && fields.size() == 2) {
      if (auto err = add_path(fields[1])) {
        return err;
      }
      m.whiteouts.emplace_back(fields[1]);
    } else {
      return bad(where + "unknown line '" + std::string{line.substr(0, 80)} + "'");
    }
  }
  if (m.apps.empty()) {
    return bad("no 'app' line");
  }
  // A file may not also be a directory of another file.
  for (const auto& p : paths) {
    for (auto pos = p.find('/'); pos != std::string::npos; pos = p.find('/', pos + 1)) {
      if (paths.count(p.substr(0, pos)) != 0) {
        return make_error(overlay_errc::bad_path,
                          "'" + p.substr(0, pos) + "' is both a file and a directory");
      }
    }
  }
  return m;
}

std::string make_bundle(const overlay_manifest& m, const std::vector<std::string>& contents,
                        const secret_key* key) {
  auto text = format_manifest(m);
  std::string out{bundle_header};
  out += "manifest " + std::to_string(text.size()) + "\n";
  out += text;
  out += "signature " + (key != nullptr ? format_signature(sign(*key, text)) : "none") + "\n";
  for (const auto& c : contents) {
    out += c;
  }
  return out;
}

std::string app_hash_of(const std::map<std::string, std::string>& path_hashes) {
  sha256 h;
  for (const auto& [path, hash] : path_hashes) {
    h.update(path);
    h.update("\0", 1);
    h.update(hash);
    h.update("\n", 1);
  }
  return h.finish_hex();
}

tree_diff diff_trees(const std::map<std::string, std::string>& local,
                     const std::map<std::string, std::string>& device) {
  tree_diff d;
  for (const auto& [path, hash] : local) {
    auto i = device.find(path);
    if (i == device.end() || i->second != hash) {
      d.changed.push_back(path);
    }
  }
  for (const auto& [path, hash] : device) {
    if (local.count(path) == 0) {
      d.whiteouts.push_back(path);
    }
  }
  return d;
}

caf::expected<app_tree> scan_app_dir(const std::string& dir) {
  app_tree out;
  std::error_code ec;
  auto root = fs::canonical(dir, ec);
  if (ec) {
    return make_error(overlay_errc::io_error, dir + ": " + ec.message());
  }
  fs::recursive_directory_iterator it{root, fs::directory_options::none, ec}, end;
  for (; !ec && it != end; it.increment(ec)) {
    const auto& p = it->path();
    auto rel = p.lexically_relative(root).generic_string();
    if (it->is_symlink(ec)) {
      auto target = fs::canonical(p, ec);
      auto inside = !ec && target.string().rfind(root.string() + "/", 0) == 0;
      if (!inside) {
        return make_error(overlay_errc::bad_path,
                          p.string() + ": a symlink leading out of " + root.string());
      }
      if (fs::is_directory(target)) {
        // Its files are reached through their real path.
        it.disable_recursion_pending();
        continue;
      }
    }
    if (!it->is_regular_file(ec)) {
      continue;
    }
    if (auto err = check_overlay_path("app/" + rel)) {
      return make_error(overlay_errc::bad_path, p.string() + ": " + describe(err));
    }
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0) {
      return io_error("stat " + p.string());
    }
    auto hash = sha256_file_hex(p.string());
    if (!hash) {
      return make_error(overlay_errc::io_error, p.string() + ": cannot read");
    }
    out[rel] = {p.string(), *hash, static_cast<uint64_t>(st.st_size), st.st_mode & 0777u, {}};
  }
  if (ec) {
    return make_error(overlay_errc::io_error, dir + ": " + ec.message());
  }
  return out;
}

// -- the store ----------------------------------------------------------------

struct overlay_store::loaded {
  stack_entry entry;
  std::string dir;
  overlay_manifest manifest;
  std::map<std::string, overlay_file> files;
  std::set<std::string> whiteouts;
};

overlay_store::overlay_store(overlay_store_options opts) : opts_(std::move(opts)) {}

overlay_store::~overlay_store() = default;

std::string overlay_store::dir_of(const stack_entry& e) const {
  return (e.persistent ? opts_.persistent_dir : opts_.volatile_dir) + "/" + e.name;
}

void overlay_store::crash_point(int n) const {
  if (opts_.crash_at == n) {
    ::kill(::getpid(), SIGKILL);
  }
}

caf::error overlay_store::load_stack(const std::vector<stack_entry>& entries,
                                     std::vector<loaded>& out) const {
  out.clear();
  for (const auto& e : entries) {
    loaded l;
    l.entry = e;
    l.dir = dir_of(e);
    auto text = read_text(l.dir + "/manifest");
    if (!text) {
      return make_error(overlay_errc::io_error, "overlay " + e.name + " is missing");
    }
    auto m = parse_manifest(*text);
    if (!m) {
      return make_error(overlay_errc::io_error, "overlay " + e.name + ": " + describe(m.error()));
    }
    l.manifest = std::move(*m);
    for (const auto& f : l.manifest.files) {
      l.files.emplace(f.path, f);
    }
    l.whiteouts.insert(l.manifest.whiteouts.begin(), l.manifest.whiteouts.end());
    out.push_back(std::move(l));
  }
  return {};
}

caf::expected<std::unique_ptr<overlay_store>> overlay_store::open(overlay_store_options opts) {
  std::unique_ptr<overlay_store> s{new overlay_store(std::move(opts))};
  auto& o = s->opts_;
  for (const auto& d : {o.persistent_dir, o.volatile_dir}) {
    std::error_code ec;
    fs::create_directories(d, ec);
    if (ec) {
      return make_error(overlay_errc::io_error, d + ": " + ec.message());
    }
    // Leftovers of an interrupted apply or compaction.
    for (const auto& ent : fs::directory_iterator{d, ec}) {
      auto name = ent.path().filename().string();
      if (name.rfind(".tmp-", 0) == 0 || name == "stack.tmp" || name == "last-good.tmp" ||
          name == "aside.tmp") {
        remove_tree(ent.path().string());
      }
    }
  }
  remove_tree(o.volatile_dir + "/views");
  // Volatile overlays that are gone went with a reboot: drop them. A missing
  // persistent one means the stack cannot be trusted.
  auto read_entries = [&](const std::string& file) -> std::optional<std::vector<stack_entry>> {
    auto text = read_text(file);
    if (!text) {
      return std::vector<stack_entry>{};
    }
    auto entries = parse_stack(*text);
    if (!entries) {
      return std::nullopt;
    }
    std::vector<stack_entry> kept;
    for (const auto& e : *entries) {
      bool present =
          e.persistent ? fs::exists(s->dir_of(e) + "/manifest") : sizes_intact(s->dir_of(e));
      if (present) {
        kept.push_back(e);
      } else if (e.persistent) {
        return std::nullopt;
      }
    }
    return kept;
  };
  auto stack_file = o.persistent_dir + "/stack";
  auto good_file = o.persistent_dir + "/last-good";
  auto good = read_entries(good_file);
  auto stack = read_entries(stack_file);
  std::vector<loaded> loaded_overlays;
  if (!good || s->load_stack(*good, loaded_overlays)) {
    good = std::vector<stack_entry>{};
  }
  if (!stack || s->load_stack(*stack, loaded_overlays)) {
    stack = good;
    if (auto err = s->load_stack(*stack, loaded_overlays)) {
      return err;
    }
  }
  s->overlays_ = std::move(loaded_overlays);
  if (auto text = read_text(o.persistent_dir + "/sequence")) {
    uint64_t n = 0;
    if (!text->empty() && text->back() == '\n' &&
        parse_number(text->substr(0, text->size() - 1), n)) {
      s->last_sequence_ = n;
    }
  }
  auto same_file = [](const std::string& file, const std::vector<stack_entry>& entries) {
    auto text = read_text(file);
    return text ? *text == format_stack(entries) : entries.empty();
  };
  if (!same_file(stack_file, *stack)) {
    if (auto err = replace_file(stack_file, format_stack(*stack))) {
      return err;
    }
  }
  if (!same_file(good_file, *good)) {
    if (auto err = replace_file(good_file, format_stack(*good))) {
      return err;
    }
  }
  s->stack_ = std::move(*stack);
  s->last_good_ = std::move(*good);
  // Overlays set aside for another firmware (a malformed file sets nothing
  // aside: its overlays are collected).
  if (auto text = read_text(o.persistent_dir + "/aside")) {
    s->aside_ = parse_aside(*text);
    if (!s->aside_) {
      ::unlink((o.persistent_dir + "/aside").c_str());
    }
  }
  s->collect_garbage();
  return s;
}

void overlay_store::collect_garbage() {
  std::set<std::string> keep;
  for (const auto* list : {&stack_, &last_good_}) {
    for (const auto& e : *list) {
      keep.insert(dir_of(e));
    }
  }
  if (aside_) {
    for (const auto* list : {&aside_->stack, &aside_->last_good}) {
      for (const auto& e : *list) {
        keep.insert(dir_of(e));
      }
    }
  }
  for (const auto& d : {opts_.persistent_dir, opts_.volatile_dir}) {
    std::error_code ec;
    for (const auto& ent : fs::directory_iterator{d, ec}) {
      auto name = ent.path().filename().string();
      if (is_overlay_dir_name(name) && keep.count(d + "/" + name) == 0) {
        remove_tree(ent.path().string());
      }
    }
  }
}

void overlay_store::set_running_firmware(std::string uuid) {
  std::lock_guard<std::mutex> guard{mtx_};
  running_uuid_ = std::move(uuid);
}

std::string overlay_store::running_firmware() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return running_uuid_;
}

uint64_t overlay_store::last_sequence() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_sequence_;
}

std::optional<std::string> overlay_store::resolve(const std::string& app,
                                                  const std::string& path) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto key = app + "/" + path;
  for (auto i = overlays_.rbegin(); i != overlays_.rend(); ++i) {
    if (i->whiteouts.count(key) != 0) {
      return std::nullopt;
    }
    if (i->files.count(key) != 0) {
      return i->dir + "/files/" + key;
    }
  }
  auto base = opts_.base_dir + "/" + key;
  if (fs::is_regular_file(base)) {
    return base;
  }
  return std::nullopt;
}

caf::expected<app_tree> overlay_store::tree_locked(const std::string& app) const {
  app_tree out;
  auto root = opts_.base_dir + "/" + app;
  std::error_code ec;
  if (fs::is_directory(root, ec)) {
    fs::recursive_directory_iterator it{root, ec}, end;
    for (; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file(ec)) {
        continue;
      }
      auto p = it->path().string();
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0) {
        return io_error("stat " + p);
      }
      auto mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      auto& cached = hash_cache_[p];
      if (std::get<0>(cached) != static_cast<uint64_t>(st.st_size) ||
          std::get<1>(cached) != mtime || std::get<2>(cached).empty()) {
        auto hash = sha256_file_hex(p);
        if (!hash) {
          return make_error(overlay_errc::io_error, p + ": cannot read");
        }
        cached = {static_cast<uint64_t>(st.st_size), mtime, *hash};
      }
      auto rel = it->path().lexically_relative(root).generic_string();
      out[rel] = {
          p, std::get<2>(cached), static_cast<uint64_t>(st.st_size), st.st_mode & 0777u, {}};
    }
  }
  auto prefix = app + "/";
  for (const auto& o : overlays_) {
    for (const auto& w : o.whiteouts) {
      if (w.rfind(prefix, 0) == 0) {
        out.erase(w.substr(prefix.size()));
      }
    }
    for (const auto& [path, f] : o.files) {
      if (path.rfind(prefix, 0) == 0) {
        out[path.substr(prefix.size())] = {o.dir + "/files/" + path, f.sha256, f.size, f.mode,
                                           o.entry.name};
      }
    }
  }
  return out;
}

caf::expected<app_tree> overlay_store::tree(const std::string& app) const {
  std::lock_guard<std::mutex> guard{mtx_};
  return tree_locked(app);
}

caf::expected<std::map<std::string, std::string>> overlay_store::file_hashes(
    const std::string& app) const {
  auto t = tree(app);
  if (!t) {
    return t.error();
  }
  std::map<std::string, std::string> out;
  for (const auto& [path, f] : *t) {
    out[path] = f.sha256;
  }
  return out;
}

caf::expected<std::string> overlay_store::app_hash(const std::string& app) const {
  auto h = file_hashes(app);
  if (!h) {
    return h.error();
  }
  return app_hash_of(*h);
}

std::optional<std::string> overlay_store::module_path(const std::string& app) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto t = tree_locked(app);
  auto module = "lib" + app + ".so";
  if (!t || t->count(module) == 0) {
    return std::nullopt;
  }
  bool overlaid =
      std::any_of(t->begin(), t->end(), [](const auto& kv) { return !kv.second.overlay.empty(); });
  if (!overlaid) {
    return opts_.base_dir + "/" + app + "/" + module;
  }
  std::map<std::string, std::string> hashes;
  for (const auto& [path, f] : *t) {
    hashes[path] = f.sha256;
  }
  auto views = opts_.volatile_dir + "/views";
  auto view = views + "/" + app + "-" + app_hash_of(hashes).substr(0, 16);
  std::error_code ec;
  if (!fs::exists(view + "/" + module, ec)) {
    // A directory of symlinks to the resolved files: the module's directory
    // (and its priv/ data) as the app sees it, at a path unique to the version.
    auto tmp = views + "/.tmp-" + app + "-" + std::to_string(::getpid());
    remove_tree(tmp);
    for (const auto& [path, f] : *t) {
      auto link = fs::path{tmp} / path;
      fs::create_directories(link.parent_path(), ec);
      fs::create_symlink(f.source, link, ec);
      if (ec) {
        remove_tree(tmp);
        return std::nullopt;
      }
    }
    remove_tree(view);
    fs::rename(tmp, view, ec);
    if (ec) {
      remove_tree(tmp);
      return std::nullopt;
    }
  }
  return view + "/" + module;
}

caf::error overlay_store::write_stack_file(const std::string& file,
                                           const std::vector<stack_entry>& entries) {
  return replace_file(file, format_stack(entries), [this](int n) { crash_point(n); });
}

caf::error overlay_store::set_stack(std::vector<stack_entry> entries, bool also_last_good) {
  std::vector<loaded> next;
  if (auto err = load_stack(entries, next)) {
    return err;
  }
  if (auto err = write_stack_file(opts_.persistent_dir + "/stack", entries)) {
    return err;
  }
  crash_point(11);
  if (also_last_good) {
    if (auto err = replace_file(opts_.persistent_dir + "/last-good", format_stack(entries))) {
      return err;
    }
    last_good_ = entries;
  }
  stack_ = std::move(entries);
  overlays_ = std::move(next);
  return {};
}

caf::expected<overlay_change> overlay_store::apply(std::string_view bundle) {
  auto parsed = parse_bundle(bundle, opts_);
  if (!parsed) {
    return parsed.error();
  }
  const auto& m = parsed->manifest;
  if (m.files.empty() && m.whiteouts.empty()) {
    return make_error(overlay_errc::bad_format, "the overlay changes nothing");
  }
  std::lock_guard<std::mutex> guard{mtx_};
  // Anti-rollback: a signed overlay is for this firmware, and newer than
  // every one applied before, so an old signed overlay cannot be replayed
  // and one made for other firmware cannot be carried over.
  const bool bound = opts_.require_binding && parsed->signature_text != "none";
  if (bound) {
    if (m.sequence == 0 || (m.firmware.empty() && !running_uuid_.empty())) {
      return make_error(overlay_errc::stale,
                        "the overlay names no firmware and sequence (made by an older myelin "
                        "push?); this device accepts only signed overlays bound to its firmware");
    }
    if (!running_uuid_.empty() && m.firmware != running_uuid_) {
      return make_error(overlay_errc::stale, "the overlay was made for firmware " + m.firmware +
                                                 ", this device runs " + running_uuid_);
    }
    if (m.sequence <= last_sequence_) {
      return make_error(overlay_errc::stale,
                        "the overlay's sequence " + std::to_string(m.sequence) +
                            " is not above the last applied (" + std::to_string(last_sequence_) +
                            "): a replay of an older overlay");
    }
  }
  overlay_change change;
  std::map<std::string, std::string> before;
  for (const auto& app : m.apps) {
    auto t = tree_locked(app);
    if (!t) {
      return t.error();
    }
    if (auto err = check_app_result(app, *t, parsed->manifest, parsed->contents)) {
      return err;
    }
    std::map<std::string, std::string> h;
    for (const auto& [p, f] : *t) {
      h[p] = f.sha256;
    }
    before[app] = app_hash_of(h);
  }
  // The next sequence number: past everything on disk and in the stack.
  uint64_t seq = 0;
  for (const auto& d : {opts_.persistent_dir, opts_.volatile_dir}) {
    std::error_code ec;
    for (const auto& ent : fs::directory_iterator{d, ec}) {
      auto name = ent.path().filename().string();
      if (is_overlay_dir_name(name)) {
        seq = std::max(seq, seq_of(name));
      }
    }
  }
  for (const auto& e : stack_) {
    seq = std::max(seq, seq_of(e.name));
  }
  char seq_text[32];
  std::snprintf(seq_text, sizeof(seq_text), "%06llu", static_cast<unsigned long long>(seq + 1));
  stack_entry entry{std::string{seq_text} + "-" + sha256_hex(parsed->manifest_text).substr(0, 16),
                    m.persist};
  auto root = m.persist ? opts_.persistent_dir : opts_.volatile_dir;
  auto tmp = root + "/.tmp-" + entry.name;
  auto final_dir = root + "/" + entry.name;
  remove_tree(tmp);
  auto fail = [&](caf::error err) {
    remove_tree(tmp);
    return err;
  };
  if (::mkdir(tmp.c_str(), 0755) != 0) {
    return io_error("mkdir " + tmp);
  }
  crash_point(1);
  // Volatile overlays need atomicity (the renames), not durability: they are
  // gone after a reboot anyway, and a kill cannot lose what was written.
  const bool sync = m.persist;
  if (auto err = write_new_file(tmp + "/manifest", parsed->manifest_text, 0644, sync)) {
    return fail(err);
  }
  if (auto err = write_new_file(tmp + "/signature", parsed->signature_text + "\n", 0644, sync)) {
    return fail(err);
  }
  crash_point(2);
  std::set<std::string> dirs{tmp, tmp + "/files"};
  if (::mkdir((tmp + "/files").c_str(), 0755) != 0) {
    return fail(io_error("mkdir " + tmp + "/files"));
  }
  for (size_t i = 0; i < m.files.size(); ++i) {
    auto file = fs::path{tmp + "/files/" + m.files[i].path};
    std::error_code ec;
    fs::create_directories(file.parent_path(), ec);
    if (ec) {
      return fail(
          make_error(overlay_errc::io_error, file.parent_path().string() + ": " + ec.message()));
    }
    for (auto p = file.parent_path(); p.string().size() > tmp.size(); p = p.parent_path()) {
      dirs.insert(p.string());
    }
    if (auto err = write_new_file(file.string(), parsed->contents[i], m.files[i].mode, sync)) {
      return fail(err);
    }
    if (i == 0) {
      crash_point(3);
    }
  }
  crash_point(4);
  for (const auto& d : dirs) {
    if (auto err = sync ? fsync_dir(d) : caf::error{}) {
      return fail(err);
    }
  }
  crash_point(5);
  if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
    return fail(io_error("rename " + tmp));
  }
  crash_point(6);
  if (auto err = sync ? fsync_dir(root) : caf::error{}) {
    remove_tree(final_dir);
    return err;
  }
  crash_point(7);
  if (bound) {
    // Before the stack names it: a crash in between leaves the overlay
    // unapplied and its sequence spent (push again), never a replayable one.
    if (auto err = write_file_durably(opts_.persistent_dir + "/sequence",
                                      std::to_string(m.sequence) + "\n")) {
      remove_tree(final_dir);
      return make_error(overlay_errc::io_error, describe(err));
    }
    last_sequence_ = m.sequence;
  }
  auto next = stack_;
  next.push_back(entry);
  if (auto err = set_stack(std::move(next), false)) {
    remove_tree(final_dir);
    ::unlink((opts_.persistent_dir + "/stack.tmp").c_str());
    return err;
  }
  change.overlay = entry.name;
  if (stack_.size() > opts_.max_depth) {
    // The overlay is in place; a failed compaction only leaves the stack deep.
    compact_locked();
  }
  crash_point(12);
  for (const auto& [app, hash] : before) {
    auto t = tree_locked(app);
    std::map<std::string, std::string> h;
    if (t) {
      for (const auto& [p, f] : *t) {
        h[p] = f.sha256;
      }
    }
    auto after = app_hash_of(h);
    if (after != hash) {
      change.changed_apps[app] = {hash, after};
    }
  }
  return change;
}

caf::error overlay_store::check_app_result(const std::string& app, const app_tree& now,
                                           const overlay_manifest& manifest,
                                           const std::vector<std::string_view>& contents) const {
  // The app's tree as it would be with the overlay on top.
  std::set<std::string> paths;
  for (const auto& [path, f] : now) {
    paths.insert(path);
  }
  auto prefix = app + "/";
  for (const auto& w : manifest.whiteouts) {
    if (w.rfind(prefix, 0) == 0) {
      paths.erase(w.substr(prefix.size()));
    }
  }
  for (size_t i = 0; i < manifest.files.size(); ++i) {
    const auto& path = manifest.files[i].path;
    if (path.rfind(prefix, 0) != 0) {
      continue;
    }
    auto rel = path.substr(prefix.size());
    paths.insert(rel);
    if (rel == app_defaults_file) {
      auto parsed = parse_app_defaults(contents[i], app, path);
      if (!parsed) {
        return make_error(overlay_errc::bad_settings, describe(parsed.error()));
      }
    }
  }
  const bool configured = opts_.known_apps.count(app) != 0;
  if (!configured && !paths.empty() && paths.count("lib" + app + ".so") == 0) {
    return make_error(overlay_errc::bad_format,
                      now.empty()
                          ? "app '" + app + "' is new to the device, and the overlay has no lib" +
                                app + ".so for it"
                          : "the overlay would leave app '" + app + "' without its lib" + app +
                                ".so (push --remove " + app + " withdraws the whole app)");
  }
  return {};
}

std::set<std::string> overlay_store::apps() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto out = opts_.known_apps;
  for (const auto& o : overlays_) {
    for (const auto& app : o.manifest.apps) {
      if (out.count(app) != 0) {
        continue;
      }
      auto t = tree_locked(app);
      if (t && !t->empty()) {
        out.insert(app);
      }
    }
  }
  return out;
}

bool overlay_store::pushed(const std::string& app) const {
  return opts_.known_apps.count(app) == 0 && apps().count(app) != 0;
}

caf::error overlay_store::mark_good() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (last_good_.size() == stack_.size() &&
      std::equal(stack_.begin(), stack_.end(), last_good_.begin(), [](auto& a, auto& b) {
        return a.name == b.name && a.persistent == b.persistent;
      })) {
    return {};
  }
  if (auto err = replace_file(opts_.persistent_dir + "/last-good", format_stack(stack_))) {
    return err;
  }
  last_good_ = stack_;
  collect_garbage();
  return {};
}

caf::expected<overlay_change> overlay_store::rollback() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::set<std::string> apps;
  for (const auto& o : overlays_) {
    apps.insert(o.manifest.apps.begin(), o.manifest.apps.end());
  }
  std::map<std::string, std::string> before;
  auto hash_now = [&](const std::string& app) {
    auto t = tree_locked(app);
    std::map<std::string, std::string> h;
    if (t) {
      for (const auto& [p, f] : *t) {
        h[p] = f.sha256;
      }
    }
    return app_hash_of(h);
  };
  for (const auto& app : apps) {
    before[app] = hash_now(app);
  }
  if (auto err = set_stack(last_good_, false)) {
    return err;
  }
  overlay_change change;
  for (const auto& o : overlays_) {
    apps.insert(o.manifest.apps.begin(), o.manifest.apps.end());
  }
  for (const auto& app : apps) {
    auto after = hash_now(app);
    if (before.count(app) == 0 || before[app] != after) {
      change.changed_apps[app] = {before[app], after};
    }
  }
  collect_garbage();
  return change;
}

caf::error overlay_store::compact() {
  std::lock_guard<std::mutex> guard{mtx_};
  return compact_locked();
}

caf::error overlay_store::compact_locked() {
  bool good_is_stack =
      last_good_.size() == stack_.size() &&
      std::equal(stack_.begin(), stack_.end(), last_good_.begin(),
                 [](auto& a, auto& b) { return a.name == b.name && a.persistent == b.persistent; });
  std::vector<stack_entry> next;
  std::vector<std::string> made;
  auto undo = [&](caf::error err) {
    for (const auto& d : made) {
      remove_tree(d);
    }
    return err;
  };
  uint64_t seq = 0;
  for (const auto& e : stack_) {
    seq = std::max(seq, seq_of(e.name));
  }
  for (const auto& d : {opts_.persistent_dir, opts_.volatile_dir}) {
    std::error_code ec;
    for (const auto& ent : fs::directory_iterator{d, ec}) {
      if (is_overlay_dir_name(ent.path().filename().string())) {
        seq = std::max(seq, seq_of(ent.path().filename().string()));
      }
    }
  }
  size_t i = 0;
  while (i < overlays_.size()) {
    size_t j = i;
    while (j < overlays_.size() && overlays_[j].entry.persistent == overlays_[i].entry.persistent) {
      ++j;
    }
    if (j - i < 2) {
      next.push_back(overlays_[i].entry);
      i = j;
      continue;
    }
    // Merge overlays i..j-1: the newest mention of each path wins.
    overlay_manifest merged;
    merged.persist = overlays_[i].entry.persistent;
    std::set<std::string> apps;
    std::map<std::string, std::pair<overlay_file, std::string>> files;
    std::set<std::string> whiteouts;
    for (size_t k = i; k < j; ++k) {
      const auto& o = overlays_[k];
      apps.insert(o.manifest.apps.begin(), o.manifest.apps.end());
      for (const auto& w : o.whiteouts) {
        files.erase(w);
        whiteouts.insert(w);
      }
      for (const auto& [p, f] : o.files) {
        whiteouts.erase(p);
        files[p] = {f, o.dir + "/files/" + p};
      }
    }
    merged.apps.assign(apps.begin(), apps.end());
    for (const auto& [p, f] : files) {
      merged.files.push_back(f.first);
    }
    merged.whiteouts.assign(whiteouts.begin(), whiteouts.end());
    auto text = format_manifest(merged);
    char seq_text[32];
    std::snprintf(seq_text, sizeof(seq_text), "%06llu", static_cast<unsigned long long>(++seq));
    stack_entry entry{std::string{seq_text} + "-" + sha256_hex(text).substr(0, 16), merged.persist};
    auto root = merged.persist ? opts_.persistent_dir : opts_.volatile_dir;
    auto tmp = root + "/.tmp-" + entry.name;
    remove_tree(tmp);
    made.push_back(tmp);
    // As durable as apply (decision 0076): every file and directory synced
    // before the rename, the parent after it, then the stack file. A
    // volatile overlay needs only the renames' atomicity.
    const bool sync = merged.persist;
    std::error_code ec;
    fs::create_directories(tmp + "/files", ec);
    if (ec) {
      return undo(make_error(overlay_errc::io_error, tmp + ": " + ec.message()));
    }
    crash_point(21);
    if (auto err = write_new_file(tmp + "/manifest", text, 0644, sync)) {
      return undo(err);
    }
    // Made on the device from verified overlays: nothing to sign.
    if (auto err = write_new_file(tmp + "/signature", "compacted\n", 0644, sync)) {
      return undo(err);
    }
    crash_point(22);
    std::set<std::string> dirs{tmp, tmp + "/files"};
    for (const auto& [p, f] : files) {
      auto target = fs::path{tmp + "/files/" + p};
      fs::create_directories(target.parent_path(), ec);
      for (auto d = target.parent_path(); d.string().size() > tmp.size(); d = d.parent_path()) {
        dirs.insert(d.string());
      }
      // Overlay files never change: a hard link is a copy (and already durable).
      if (::link(f.second.c_str(), target.c_str()) != 0) {
        fs::copy_file(f.second, target, ec);
        if (ec) {
          return undo(make_error(overlay_errc::io_error, target.string() + ": " + ec.message()));
        }
        if (auto err = sync ? fsync_file(target.string()) : caf::error{}) {
          return undo(err);
        }
      }
    }
    crash_point(23);
    for (const auto& d : dirs) {
      if (auto err = sync ? fsync_dir(d) : caf::error{}) {
        return undo(err);
      }
    }
    crash_point(24);
    auto final_dir = root + "/" + entry.name;
    if (::rename(tmp.c_str(), final_dir.c_str()) != 0) {
      return undo(io_error("rename " + tmp));
    }
    made.back() = final_dir;
    if (auto err = sync ? fsync_dir(root) : caf::error{}) {
      return undo(err);
    }
    crash_point(25);
    next.push_back(entry);
    i = j;
  }
  if (made.empty()) {
    return {};
  }
  if (auto err = set_stack(next, good_is_stack)) {
    return undo(err);
  }
  collect_garbage();
  return {};
}

caf::error overlay_store::clear() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto err = set_stack({}, true)) {
    return err;
  }
  collect_garbage();
  return {};
}

std::vector<stack_entry> overlay_store::stack() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return stack_;
}

std::vector<stack_entry> overlay_store::last_good() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return last_good_;
}

caf::error overlay_store::set_aside(const std::string& slot, const std::string& uuid) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!aside_ || aside_->slot != slot) {
    set_aside_overlays a;
    a.slot = slot;
    a.uuid = uuid;
    a.stack = stack_;
    a.last_good = last_good_;
    if (a.stack.empty() && a.last_good.empty()) {
      // Nothing to keep: only an older aside goes.
      if (::unlink((opts_.persistent_dir + "/aside").c_str()) != 0 && errno != ENOENT) {
        return io_error("unlink " + opts_.persistent_dir + "/aside");
      }
      aside_.reset();
    } else {
      // First the aside file, durably: from then on their overlays are kept.
      if (auto err = replace_file(opts_.persistent_dir + "/aside", format_aside(a))) {
        return err;
      }
      aside_ = std::move(a);
    }
  }
  if (auto err = set_stack({}, true)) {
    return err;
  }
  collect_garbage();
  return {};
}

caf::error overlay_store::restore_aside() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!aside_) {
    return make_error(overlay_errc::no_last_good, "no overlays are set aside");
  }
  // Volatile overlays that are gone went with a reboot: dropped. A missing
  // persistent one makes its list untrustworthy: the stack falls back to
  // last-good, and that to nothing (as open does).
  auto present =
      [this](const std::vector<stack_entry>& list) -> std::optional<std::vector<stack_entry>> {
    std::vector<stack_entry> kept;
    for (const auto& e : list) {
      if (fs::exists(dir_of(e) + "/manifest")) {
        kept.push_back(e);
      } else if (e.persistent) {
        return std::nullopt;
      }
    }
    return kept;
  };
  auto good = present(aside_->last_good).value_or(std::vector<stack_entry>{});
  auto stack = present(aside_->stack).value_or(good);
  if (auto err = set_stack(good, true)) {
    return err;
  }
  if (auto err = set_stack(stack, false)) {
    return err;
  }
  return forget_aside_locked();
}

caf::error overlay_store::drop_aside() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!aside_) {
    return {};
  }
  return forget_aside_locked();
}

caf::error overlay_store::forget_aside_locked() {
  if (::unlink((opts_.persistent_dir + "/aside").c_str()) != 0 && errno != ENOENT) {
    return io_error("unlink " + opts_.persistent_dir + "/aside");
  }
  if (auto err = fsync_dir(opts_.persistent_dir)) {
    return err;
  }
  aside_.reset();
  collect_garbage();
  return {};
}

std::optional<set_aside_overlays> overlay_store::aside() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return aside_;
}

caf::error clear_overlays(const overlay_store_options& opts) {
  if (::unlink((opts.persistent_dir + "/aside").c_str()) != 0 && errno != ENOENT) {
    return io_error("unlink " + opts.persistent_dir + "/aside");
  }
  for (const auto& file : {"stack", "last-good"}) {
    auto path = opts.persistent_dir + "/" + file;
    if (fs::exists(path)) {
      if (auto err = replace_file(path, stack_header)) {
        return err;
      }
    }
  }
  for (const auto& d : {opts.persistent_dir, opts.volatile_dir}) {
    std::error_code ec;
    for (const auto& ent : fs::directory_iterator{d, ec}) {
      auto name = ent.path().filename().string();
      if (is_overlay_dir_name(name) || name.rfind(".tmp-", 0) == 0 || name == "views") {
        remove_tree(ent.path().string());
      }
    }
  }
  return {};
}

}  // namespace myelin::runtime
