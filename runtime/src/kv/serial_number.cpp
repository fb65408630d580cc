// The serial number strategies.
#include "myelin/runtime/kv/serial_number.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/platform/spawn.hpp"

namespace myelin::runtime {

namespace {

std::string trim(std::string s) {
  auto junk = [](unsigned char c) { return std::isspace(c) != 0 || c == '\0'; };
  while (!s.empty() && junk(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  size_t start = 0;
  while (start < s.size() && junk(static_cast<unsigned char>(s[start]))) {
    ++start;
  }
  return s.substr(start);
}

std::string under_root(const std::string& root, const std::string& path) {
  if (root.empty() || root == "/") {
    return path;
  }
  return (std::filesystem::path{root} / std::filesystem::path{path}.relative_path()).string();
}

std::string read_bytes(const std::string& path, uint64_t offset, uint64_t length) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return {};
  }
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in) {
    return {};
  }
  std::string out(length == 0 ? 64 : std::min<uint64_t>(length, 64), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  out.resize(static_cast<size_t>(in.gcount()));
  return out;
}

bool printable(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isprint(c) != 0; });
}

std::string hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

// The first line a command prints, or empty (failure, timeout, no output).
std::string run_script(const std::string& command, std::chrono::milliseconds timeout) {
  run_options o;
  o.spawn.argv = {"/bin/sh", "-c", command};
  o.capture = true;
  o.max_output = 4096;
  o.timeout = timeout;
  auto r = run_program(std::move(o));
  if (!r || !WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0) {
    return {};
  }
  return r->output.substr(0, r->output.find('\n'));
}

std::string try_strategy(const serial_strategy& s, const serial_options& opts, const kv_map& env) {
  switch (s.how) {
    case serial_strategy::kind::env: {
      auto i = env.find(s.arg);
      return i == env.end() ? std::string{} : i->second;
    }
    case serial_strategy::kind::cpuinfo: {
      std::ifstream in(under_root(opts.root, "/proc/cpuinfo"));
      for (std::string line; std::getline(in, line);) {
        auto colon = line.find(':');
        if (colon != std::string::npos && trim(line.substr(0, colon)) == "Serial") {
          return trim(line.substr(colon + 1));
        }
      }
      return {};
    }
    case serial_strategy::kind::device_tree:
      return read_bytes(under_root(opts.root, "/proc/device-tree/serial-number"), 0, 0);
    case serial_strategy::kind::dmi:
      return read_bytes(under_root(opts.root, "/sys/class/dmi/id/product_serial"), 0, 0);
    case serial_strategy::kind::mac: {
      auto text =
          trim(read_bytes(under_root(opts.root, "/sys/class/net/" + s.arg + "/address"), 0, 0));
      std::string digits;
      for (char c : text) {
        if (std::isxdigit(static_cast<unsigned char>(c)) != 0) {
          digits += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
      }
      // An all-zero MAC is no identity.
      return digits.find_first_not_of('0') == std::string::npos ? std::string{} : digits;
    }
    case serial_strategy::kind::file: {
      auto bytes = read_bytes(under_root(opts.root, s.arg), s.offset, s.length);
      auto text = trim(bytes);
      if (!text.empty() && printable(text)) {
        return text;
      }
      if (bytes.empty() || bytes.find_first_not_of('\xff') == std::string::npos ||
          bytes.find_first_not_of('\0') == std::string::npos) {
        return {};  // erased flash or zeros: nothing programmed there
      }
      return hex(bytes);
    }
    case serial_strategy::kind::script:
      return run_script(s.arg, opts.script_timeout);
  }
  return {};
}

std::string name_of(const serial_strategy& s) {
  switch (s.how) {
    case serial_strategy::kind::env:
      return "env:" + s.arg;
    case serial_strategy::kind::cpuinfo:
      return "cpuinfo";
    case serial_strategy::kind::device_tree:
      return "device_tree";
    case serial_strategy::kind::dmi:
      return "dmi";
    case serial_strategy::kind::mac:
      return "mac:" + s.arg;
    case serial_strategy::kind::file:
      return "file:" + s.arg;
    case serial_strategy::kind::script:
      return "script:" + s.arg;
  }
  return "?";
}

bool parse_u64(const std::string& text, uint64_t& out) {
  int base = 10;
  std::string_view digits = text;
  if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
    base = 16;
    digits.remove_prefix(2);
  }
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out, base);
  return ec == std::errc{} && end == digits.data() + digits.size() && !digits.empty();
}

}  // namespace

caf::expected<serial_strategy> parse_serial_strategy(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error(config_errc::invalid_value, "serial strategy '" + text + "': " + why);
  };
  auto colon = text.find(':');
  auto name = text.substr(0, colon);
  auto arg = colon == std::string::npos ? std::string{} : text.substr(colon + 1);
  serial_strategy s;
  if (name == "cpuinfo" || name == "device_tree" || name == "dmi") {
    if (colon != std::string::npos) {
      return bad("takes no argument");
    }
    s.how = name == "cpuinfo"       ? serial_strategy::kind::cpuinfo
            : name == "device_tree" ? serial_strategy::kind::device_tree
                                    : serial_strategy::kind::dmi;
    return s;
  }
  if (name != "env" && name != "mac" && name != "file" && name != "script") {
    return bad(
        "unknown strategy (env:KEY, cpuinfo, device_tree, dmi, mac:IFNAME, "
        "file:PATH[@OFFSET[:LENGTH]], script:COMMAND)");
  }
  if (arg.empty()) {
    return bad("needs an argument");
  }
  if (name == "env") {
    s.how = serial_strategy::kind::env;
    s.arg = arg;
  } else if (name == "mac") {
    if (arg.find('/') != std::string::npos || arg == "." || arg == "..") {
      return bad("not an interface name");
    }
    s.how = serial_strategy::kind::mac;
    s.arg = arg;
  } else if (name == "script") {
    s.how = serial_strategy::kind::script;
    s.arg = arg;
  } else {
    s.how = serial_strategy::kind::file;
    auto at = arg.rfind('@');
    s.arg = arg.substr(0, at);
    if (at != std::string::npos) {
      auto pos = arg.substr(at + 1);
      auto len_colon = pos.find(':');
      if (!parse_u64(pos.substr(0, len_colon), s.offset)) {
        return bad("bad offset");
      }
      if (len_colon != std::string::npos &&
          (!parse_u64(pos.substr(len_colon + 1), s.length) || s.length == 0 || s.length > 64)) {
        return bad("length must be 1..64");
      }
    }
    if (s.arg.empty() || s.arg[0] != '/') {
      return bad("the path must be absolute");
    }
  }
  return s;
}

serial_result serial_number(const serial_options& opts, const kv_map& env) {
  for (const auto& s : opts.strategies) {
    auto value = trim(try_strategy(s, opts, env));
    // A serial number is one printable token.
    value.erase(std::remove_if(value.begin(), value.end(),
                               [](unsigned char c) { return std::isgraph(c) == 0; }),
                value.end());
    if (value.empty()) {
      continue;
    }
    if (opts.keep_rightmost > 0 && value.size() > opts.keep_rightmost) {
      value = value.substr(value.size() - opts.keep_rightmost);
    }
    auto room = max_serial_length > opts.prefix.size() ? max_serial_length - opts.prefix.size() : 0;
    if (value.size() > room) {
      value = value.substr(value.size() - room);
    }
    return {(opts.prefix + value).substr(0, max_serial_length), name_of(s)};
  }
  return {opts.fallback.substr(0, max_serial_length), "fallback"};
}

}  // namespace myelin::runtime
