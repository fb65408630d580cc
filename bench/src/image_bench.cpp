// myelin-bench image: the device image under QEMU (issue 17). Builds an image
// of this build in build/image-bench (scripts/make-image, its own keys and a
// second version), then boots it with scripts/qemu through the image test
// driver (tests/image/image_test.py bench), which prints the RESULT lines.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "device.hpp"
#include "myelin/bench/scenario.hpp"

namespace myelin::bench {

namespace {

std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  }
  return out + "'";
}

int run_image(const std::vector<std::string>&) {
  namespace fs = std::filesystem;
  auto build = fs::path{bin_dir()}.parent_path();
  auto source = build.parent_path();
  auto out = build / "image-bench";
  if (std::system("command -v qemu-system-x86_64 >/dev/null") != 0) {
    std::cerr << "myelin-bench image: qemu-system-x86_64 is missing (scripts/install-deps)\n";
    return 1;
  }
  auto make = quoted((source / "scripts" / "make-image").string());
  auto common = " --build " + quoted(build.string()) + " --keys " + quoted((out / "keys").string());
  std::string cmd = "set -e; " + make + common + " --out " + quoted(out.string()) +
                    " >/dev/null; " + make + common + " --out " + quoted((out / "fw").string()) +
                    " --fw-only --version 0.2.0 >/dev/null; exec python3 " +
                    quoted((source / "tests" / "image" / "image_test.py").string()) +
                    " bench --build " + quoted(build.string()) + " --image " +
                    quoted(out.string()) + " --fw-dir " + quoted((out / "fw").string());
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

MYELIN_BENCH_SCENARIO(
    "image", "the QEMU device image: boot to core ready, update cycle, sizes, memory (TCG)",
    run_image);

}  // namespace myelin::bench
