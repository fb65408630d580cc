// The overlay commands of the CLI, each in its own file: push, watch, keys, new.
#pragma once

#include <CLI/CLI.hpp>

namespace myelin::tools {

void add_push_command(CLI::App& app);
void add_watch_command(CLI::App& app);
void add_keys_command(CLI::App& app);
void add_new_command(CLI::App& app);

/// Ends the CLI's parse with `code` (CLI11 prints nothing for RuntimeError).
[[noreturn]] inline void finish(int code) {
  throw CLI::RuntimeError(code);
}

}  // namespace myelin::tools
