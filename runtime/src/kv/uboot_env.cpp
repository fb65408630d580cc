// The U-Boot environment through libubootenv, plus the host-mode file variant.
#include "myelin/runtime/kv/uboot_env.hpp"

#include "myelin/runtime/config/config.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

extern "C" {
#include <libuboot.h>
}

namespace myelin::runtime {

// -- errors and key checks ----------------------------------------------------

std::string to_string(kv_errc x) {
  switch (x) {
    case kv_errc::invalid_key:
      return "invalid_key";
    case kv_errc::not_found:
      return "not_found";
    case kv_errc::bad_config:
      return "bad_config";
    case kv_errc::unreadable:
      return "unreadable";
    case kv_errc::write_failed:
      return "write_failed";
    case kv_errc::too_large:
      return "too_large";
  }
  return "kv_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(kv_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("kv"),
                    caf::make_message(std::move(context))};
}

caf::error check_key(const std::string& key) {
  if (key.empty()) {
    return make_error(kv_errc::invalid_key, "empty key");
  }
  if (key.find('=') != std::string::npos) {
    return make_error(kv_errc::invalid_key, "key '" + key + "' contains '='");
  }
  if (key.find('\0') != std::string::npos) {
    return make_error(kv_errc::invalid_key, "key contains a NUL byte");
  }
  return {};
}

caf::error check_value(const std::string& key, const std::string& value) {
  if (value.find('\0') != std::string::npos) {
    return make_error(kv_errc::invalid_key, "value of '" + key + "' contains a NUL byte");
  }
  return {};
}

caf::error check_changes(const kv_changes& changes) {
  for (const auto& [key, value] : changes) {
    if (auto err = check_key(key)) {
      return err;
    }
    if (value) {
      if (auto err = check_value(key, *value)) {
        return err;
      }
    }
  }
  return {};
}

// -- fw_env.config ------------------------------------------------------------

namespace {

bool parse_number(const std::string& text, int64_t& out) {
  if (text.empty()) {
    return false;
  }
  errno = 0;
  char* end = nullptr;
  auto v = std::strtoll(text.c_str(), &end, 0);
  if (errno != 0 || end == nullptr || *end != '\0') {
    return false;
  }
  out = v;
  return true;
}

caf::expected<std::vector<env_device>> read_devices(const std::string& config_path) {
  std::ifstream in(config_path);
  if (!in) {
    return make_error(kv_errc::bad_config, config_path + ": cannot read the environment config");
  }
  std::ostringstream buf;
  buf << in.rdbuf();
  return parse_fw_env_config(buf.str(), config_path);
}

// Closes the libubootenv context on every path.
struct uboot_ctx_guard {
  uboot_ctx* ctx = nullptr;
  bool opened = false;
  ~uboot_ctx_guard() {
    if (ctx != nullptr) {
      if (opened) {
        libuboot_close(ctx);
      }
      libuboot_exit(ctx);
    }
  }
};

std::string errno_text(int rc) {
  return std::strerror(rc < 0 ? -rc : rc);
}

// Checks that every device exists; libubootenv 0.3.2 must not be given a
// config whose device is missing (a later store then crashes).
caf::error check_devices(const std::vector<env_device>& devs) {
  for (const auto& d : devs) {
    struct stat st {};
    if (::stat(d.path.c_str(), &st) != 0) {
      return make_error(kv_errc::unreadable,
                        "environment device " + d.path + ": " + std::strerror(errno));
    }
    if (S_ISREG(st.st_mode) && d.offset >= 0 &&
        static_cast<uint64_t>(st.st_size) < static_cast<uint64_t>(d.offset) + d.size) {
      return make_error(kv_errc::unreadable,
                        "environment file " + d.path + " is " + std::to_string(st.st_size) +
                            " bytes, too short for a copy at offset " + std::to_string(d.offset) +
                            " of " + std::to_string(d.size) + " bytes");
    }
  }
  return {};
}

// Plain files that do not exist yet are created zero-filled (an environment
// with no valid copy), when their directory exists.
caf::error create_missing_files(const std::vector<env_device>& devs, bool& created) {
  // Both copies may live in one file: size it for the copy that ends last.
  std::map<std::string, uint64_t> ends;
  for (const auto& d : devs) {
    if (d.offset < 0 || d.path.rfind("/dev/", 0) == 0) {
      continue;
    }
    auto end = static_cast<uint64_t>(d.offset) + d.size;
    ends[d.path] = std::max(ends[d.path], end);
  }
  for (const auto& [path, end] : ends) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      continue;
    }
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0) {
      return make_error(kv_errc::write_failed,
                        "cannot create environment file " + path + ": " + std::strerror(errno));
    }
    bool ok = ::ftruncate(fd, static_cast<off_t>(end)) == 0;
    ::close(fd);
    created = true;
    if (!ok) {
      return make_error(kv_errc::write_failed, "cannot size environment file " + path);
    }
  }
  return {};
}

}  // namespace

caf::expected<std::vector<env_device>> parse_fw_env_config(std::string_view text,
                                                           const std::string& origin) {
  std::vector<env_device> out;
  std::istringstream in{std::string{text}};
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (auto hash = line.find('#'); hash != std::string::npos) {
      line.erase(hash);
    }
    std::istringstream fields{line};
    std::vector<std::string> f;
    for (std::string w; fields >> w;) {
      f.push_back(w);
    }
    if (f.empty()) {
      continue;
    }
    auto where = origin + ":" + std::to_string(lineno) + ": ";
    if (f.size() < 3 || f.size() > 5) {
      return make_error(kv_errc::bad_config,
                        where + "expected 'device offset size [sector-size [sectors]]'");
    }
    env_device d;
    d.path = f[0];
    int64_t n = 0;
    if (!parse_number(f[1], n)) {
      return make_error(kv_errc::bad_config, where + "bad offset '" + f[1] + "'");
    }
    d.offset = n;
    if (!parse_number(f[2], n) || n <= 5) {
      return make_error(kv_errc::bad_config, where + "bad size '" + f[2] + "'");
    }
    d.size = static_cast<uint64_t>(n);
    if (f.size() > 3) {
      if (!parse_number(f[3], n) || n < 0) {
        return make_error(kv_errc::bad_config, where + "bad sector size '" + f[3] + "'");
      }
      d.sector_size = static_cast<uint64_t>(n);
    }
    if (f.size() > 4) {
      if (!parse_number(f[4], n) || n < 0) {
        return make_error(kv_errc::bad_config, where + "bad sector count '" + f[4] + "'");
      }
      d.sectors = static_cast<uint64_t>(n);
    }
    out.push_back(std::move(d));
  }
  if (out.empty()) {
    return make_error(kv_errc::bad_config, origin + ": no environment device configured");
  }
  if (out.size() > 2) {
    return make_error(kv_errc::bad_config, origin + ": at most two copies (redundant) supported");
  }
  if (out.size() == 2 && out[0].size != out[1].size) {
    return make_error(kv_errc::bad_config, origin + ": both copies must have the same size");
  }
  return out;
}

// -- uboot_env_backend --------------------------------------------------------

uboot_env_backend::uboot_env_backend(std::string config_path, kv_map defaults)
    : config_path_(std::move(config_path)), defaults_(std::move(defaults)) {}

std::string uboot_env_backend::describe() const {
  return "uboot:" + config_path_;
}

caf::expected<std::vector<env_device>> uboot_env_backend::devices() {
  if (!devices_) {
    auto devs = read_devices(config_path_);
    if (!devs) {
      return devs.error();
    }
    devices_ = std::move(*devs);
  }
  return *devices_;
}

caf::expected<kv_map> uboot_env_backend::read() {
  auto devs = devices();
  if (!devs) {
    return devs.error();
  }
  if (auto err = check_devices(*devs)) {
    return err;
  }
  uboot_ctx_guard g;
  if (int rc = libuboot_initialize(&g.ctx, nullptr); rc < 0) {
    g.ctx = nullptr;
    return make_error(kv_errc::unreadable, "libubootenv: initialize: " + errno_text(rc));
  }
  if (int rc = libuboot_read_config(g.ctx, config_path_.c_str()); rc < 0) {
    return make_error(kv_errc::bad_config,
                      config_path_ + ": libubootenv refused the config: " + errno_text(rc));
  }
  int rc = libuboot_open(g.ctx);
  g.opened = true;
  if (rc < 0) {
    if (rc == -ENODATA) {
      return make_error(kv_errc::unreadable, "environment " + config_path_ +
                                                 ": no copy has a valid CRC (blank or corrupted)");
    }
    return make_error(kv_errc::unreadable,
                      "environment " + config_path_ + ": cannot read: " + errno_text(rc));
  }
  kv_map out;
  void* it = nullptr;
  while ((it = libuboot_iterator(g.ctx, it)) != nullptr) {
    const char* name = libuboot_getname(it);
    const char* value = libuboot_getvalue(it);
    if (name != nullptr) {
      out.emplace(name, value != nullptr ? value : "");
    }
  }
  return out;
}

caf::error uboot_env_backend::write(const kv_changes& changes) {
  auto written = write_merged(changes);
  return written ? caf::error{} : written.error();
}

caf::expected<kv_map> uboot_env_backend::write_and_read(const kv_changes& changes) {
  return write_merged(changes);
}

caf::expected<kv_map> uboot_env_backend::write_merged(const kv_changes& changes) {
  if (auto err = check_changes(changes)) {
    return err;
  }
  auto devs = devices();
  if (!devs) {
    return devs.error();
  }
  bool created = false;
  if (auto err = create_missing_files(*devs, created)) {
    return err;
  }
  if (auto err = check_devices(*devs)) {
    return make_error(kv_errc::write_failed, runtime::describe(err));
  }
  uboot_ctx_guard g;
  if (int rc = libuboot_initialize(&g.ctx, nullptr); rc < 0) {
    g.ctx = nullptr;
    return make_error(kv_errc::write_failed, "libubootenv: initialize: " + errno_text(rc));
  }
  if (int rc = libuboot_read_config(g.ctx, config_path_.c_str()); rc < 0) {
    return make_error(kv_errc::bad_config,
                      config_path_ + ": libubootenv refused the config: " + errno_text(rc));
  }
  int rc = libuboot_open(g.ctx);
  g.opened = true;
  // -ENODATA: no valid copy. Writing then creates a valid environment from
  // the defaults plus the new keys — never from the new keys alone: on a
  // board whose U-Boot fell back to its built-in environment, a valid copy
  // without bootcmd is one it can no longer boot from (decision 0076).
  if (rc < 0 && rc != -ENODATA) {
    return make_error(kv_errc::write_failed, "environment " + config_path_ +
                                                 ": cannot read before writing: " + errno_text(rc));
  }
  const bool rebuild = rc == -ENODATA && !created;
  if (rebuild && defaults_.empty()) {
    return make_error(kv_errc::write_failed,
                      "environment " + config_path_ +
                          " has no valid copy and no default environment is configured "
                          "(kv.defaults_file): writing only the new keys would leave U-Boot "
                          "without its own variables (bootcmd); nothing written");
  }
  // What the environment will hold: refuse what does not fit before asking
  // libubootenv to store it (0.3.2 leaks its buffer when it finds out itself).
  kv_map merged;
  if (rc == -ENODATA) {
    merged = defaults_;
  }
  if (rc == 0) {
    void* it = nullptr;
    while ((it = libuboot_iterator(g.ctx, it)) != nullptr) {
      const char* name = libuboot_getname(it);
      const char* value = libuboot_getvalue(it);
      if (name != nullptr) {
        merged[name] = value != nullptr ? value : "";
      }
    }
  }
  for (const auto& [key, value] : changes) {
    if (value) {
      merged[key] = *value;
    } else {
      merged.erase(key);
    }
  }
  uint64_t needed = 1;  // the empty entry that ends the list
  for (const auto& [key, value] : merged) {
    needed += key.size() + 1 + value.size() + 1;
  }
  // Each copy: CRC32, a flag byte when redundant, then the data.
  uint64_t room = (*devs)[0].size - 4 - (devs->size() == 2 ? 1 : 0);
  if (needed > room) {
    return make_error(kv_errc::too_large,
                      "environment " + config_path_ + " is too small for the new contents (" +
                          std::to_string(needed) + " bytes needed, " + std::to_string(room) +
                          " available per copy); nothing written");
  }
  if (rc == -ENODATA) {
    for (const auto& [key, value] : defaults_) {
      if (changes.count(key) == 0 && libuboot_set_env(g.ctx, key.c_str(), value.c_str()) < 0) {
        return make_error(kv_errc::write_failed, "cannot set default '" + key + "'");
      }
    }
  }
  for (const auto& [key, value] : changes) {
    if (libuboot_set_env(g.ctx, key.c_str(), value ? value->c_str() : nullptr) < 0 && value) {
      return make_error(kv_errc::write_failed, "cannot set '" + key + "'");
    }
  }
  rc = libuboot_env_store(g.ctx);
  if (rc == -ENOMEM) {
    return make_error(kv_errc::too_large,
                      "environment " + config_path_ + " is too small for the new contents (" +
                          std::to_string((*devs)[0].size) + " bytes per copy); nothing written");
  }
  if (rc < 0) {
    return make_error(kv_errc::write_failed,
                      "environment " + config_path_ + ": write failed: " + errno_text(rc));
  }
  if (rebuild) {
    notice_ = "was rebuilt from " + std::to_string(defaults_.size()) +
              " default variable(s) plus the keys written (no copy was valid)";
  }
  return merged;
}

// -- host mode ----------------------------------------------------------------

caf::expected<std::unique_ptr<uboot_env_backend>> open_file_env(const std::string& dir,
                                                                uint64_t size,
                                                                const kv_changes& initial) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return make_error(kv_errc::write_failed, "cannot create " + dir + ": " + ec.message());
  }
  auto env = (fs::path{dir} / "uboot.env").string();
  auto config = (fs::path{dir} / "fw_env.config").string();
  if (!fs::exists(config)) {
    std::ostringstream text;
    text << "# Host-mode U-Boot environment of myelin (redundant: two copies).\n"
         << "# Usable with: fw_printenv -c " << config << "\n"
         << env << " 0x0 0x" << std::hex << size << "\n"
         << env << " 0x" << size << " 0x" << size << "\n";
    auto tmp = config + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << text.str();
      if (!out) {
        return make_error(kv_errc::write_failed, "cannot write " + tmp);
      }
    }
    fs::rename(tmp, config, ec);
    if (ec) {
      return make_error(kv_errc::write_failed, "cannot write " + config + ": " + ec.message());
    }
  }
  kv_map defaults;
  for (const auto& [key, value] : initial) {
    if (value) {
      defaults[key] = *value;
    }
  }
  auto backend = std::make_unique<uboot_env_backend>(config, std::move(defaults));
  // A new environment gets the initial contents; an existing one persists as
  // it is (if it is unreadable, the kv service reports it and a later write
  // makes it valid again).
  if (!fs::exists(env)) {
    if (auto err = backend->write(initial)) {
      return err;
    }
  }
  return backend;
}

}  // namespace myelin::runtime
