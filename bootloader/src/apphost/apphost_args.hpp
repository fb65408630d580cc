// myelin-apphost's command line. myelin-boot writes it, so the parser is small
// and strict (no CLI11: 240 kB of code in every app host, decision 0068).
#pragma once

#include <cstddef>
#include <string>
#include <variant>

namespace myelin::bootloader {

struct apphost_args {
  std::string app;
  std::string module;
  int link_fd = -1;
  size_t scheduler_threads = 2;
  std::string scheduler_policy = "sharing";
  /// device.target: "host" runs the app's start_host when it has one.
  std::string target = "host";
  /// The app's private data directory (context::data_dir); empty: none.
  std::string data_dir;
  bool version = false;
  bool help = false;
};

/// The usage text (for --help and after an error).
std::string apphost_usage();

/// Parses `--name value` and `--name=value`; --version and --help alone may
/// stand without the required options. Errors: one line saying what is wrong.
std::variant<apphost_args, std::string> parse_apphost_args(int argc, const char* const* argv);

}  // namespace myelin::bootloader
