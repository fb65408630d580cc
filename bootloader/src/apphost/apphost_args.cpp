// myelin-apphost's command line (see apphost_args.hpp).
#include "apphost/apphost_args.hpp"

#include <charconv>
#include <string_view>

namespace myelin::bootloader {

namespace {

/// A whole decimal number in [lo, hi].
bool parse_number(std::string_view s, long lo, long hi, long& out) {
  long v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size() || v < lo || v > hi) {
    return false;
  }
  out = v;
  return true;
}

}  // namespace

std::string apphost_usage() {
  return "myelin-apphost: runs one application module for myelin-boot\n"
         "Usage: myelin-apphost --app NAME --module PATH --link-fd FD [OPTIONS]\n"
         "\n"
         "  --app NAME                 the app's name (required)\n"
         "  --module PATH              the app's module, lib<app>.so (required)\n"
         "  --link-fd FD               the connected socket to myelin-boot (required)\n"
         "  --scheduler-threads N      CAF scheduler threads (1-64, default 2)\n"
         "  --scheduler-policy P       sharing (default) or stealing\n"
         "  --target T                 device.target: host (default) or a target's name\n"
         "  --data-dir DIR             the app's private data directory (context::data_dir)\n"
         "  --version                  print the version and exit\n"
         "  --help                     print this text and exit\n"
         "\n"
         "myelin-boot starts it; run by hand it has nobody to talk to.\n";
}

std::variant<apphost_args, std::string> parse_apphost_args(int argc, const char* const* argv) {
  apphost_args out;
  bool have_app = false;
  bool have_module = false;
  bool have_fd = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg{argv[i]};
    if (arg == "--version") {
      out.version = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    std::string_view name = arg;
    std::string_view value;
    bool inline_value = false;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      inline_value = true;
    }
    bool known = name == "--app" || name == "--module" || name == "--link-fd" ||
                 name == "--scheduler-threads" || name == "--scheduler-policy" ||
                 name == "--target" || name == "--data-dir";
    if (!known) {
      return "unknown argument '" + std::string{arg} + "'";
    }
    if (!inline_value) {
      if (i + 1 >= argc) {
        return std::string{name} + " needs a value";
      }
      value = argv[++i];
    }
    if (name == "--app") {
      if (value.empty()) {
        return "--app needs a non-empty value";
      }
      out.app = std::string{value};
      have_app = true;
    } else if (name == "--module") {
      if (value.empty()) {
        return "--module needs a non-empty value";
      }
      out.module = std::string{value};
      have_module = true;
    } else if (name == "--link-fd") {
      long fd = 0;
      if (!parse_number(value, 0, 1 << 20, fd)) {
        return "--link-fd: '" + std::string{value} + "' is not a file descriptor";
      }
      out.link_fd = static_cast<int>(fd);
      have_fd = true;
    } else if (name == "--scheduler-threads") {
      long n = 0;
      if (!parse_number(value, 1, 64, n)) {
        return "--scheduler-threads: '" + std::string{value} + "' is not a number from 1 to 64";
      }
      out.scheduler_threads = static_cast<size_t>(n);
    } else if (name == "--target") {
      if (value.empty() || value.size() > 64 ||
          value.find_first_of(" \t\n/") != std::string_view::npos) {
        return "--target: '" + std::string{value} + "' is not a target name";
      }
      out.target = std::string{value};
    } else if (name == "--data-dir") {
      if (value.empty() || value[0] != '/') {
        return "--data-dir: '" + std::string{value} + "' is not an absolute path";
      }
      out.data_dir = std::string{value};
    } else {
      if (value != "sharing" && value != "stealing") {
        return "--scheduler-policy: '" + std::string{value} + "' is not sharing or stealing";
      }
      out.scheduler_policy = std::string{value};
    }
  }
  if (out.version || out.help) {
    return out;
  }
  if (!have_app) {
    return std::string{"--app is required"};
  }
  if (!have_module) {
    return std::string{"--module is required"};
  }
  if (!have_fd) {
    return std::string{"--link-fd is required"};
  }
  return out;
}

}  // namespace myelin::bootloader
