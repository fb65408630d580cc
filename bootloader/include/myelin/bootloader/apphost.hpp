// myelin-apphost's main: runs one application module in its own process.
#pragma once

namespace myelin::bootloader {

/// Loads `--module`, starts the app's tree, serves the link on `--link-fd`
/// until SIGTERM (orderly stop), the link closes (myelin-boot is gone), or the
/// app's tree gives up. Exit codes: 0 stopped, 1 the app failed, 2 usage,
/// 78 the module was refused (missing, not loadable, other ABI).
int apphost_main(int argc, char** argv);

}  // namespace myelin::bootloader
