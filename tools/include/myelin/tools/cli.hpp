// The `myelin` command line: status, kv, fw, serial (more arrive with overlays
// and firmware updates).
#pragma once

namespace myelin::tools {

/// Runs the `myelin` tool; returns the process exit code (0 ok, 1 the
/// operation failed, 2 bad usage).
int run_cli(int argc, char** argv);

}  // namespace myelin::tools
