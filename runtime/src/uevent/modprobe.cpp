// Runs modprobe for a batch of module aliases.
#include "myelin/runtime/uevent/modprobe.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/platform/spawn.hpp"

namespace myelin::runtime {

namespace {

modprobe_result run(const std::string& program, std::vector<std::string> flags,
                    const std::vector<std::string>& names, std::chrono::milliseconds timeout,
                    bool quiet) {
  run_options o;
  o.spawn.argv = {program};
  o.spawn.argv.insert(o.spawn.argv.end(), flags.begin(), flags.end());
  o.spawn.argv.insert(o.spawn.argv.end(), names.begin(), names.end());
  o.spawn.new_process_group = false;
  o.timeout = timeout;
  // With -q, an alias no module claims (most devices) is silent but still
  // exits 1; a module that fails to load says why. Capture what it says.
  o.capture = true;
  o.merge_stderr = true;
  o.max_output = 4096;
  o.keep_end = true;
  auto r = run_program(std::move(o));
  if (!r) {
    if (r.error().code() == static_cast<uint8_t>(spawn_errc::timed_out)) {
      return {false, "killed by signal 9 (timeout)"};
    }
    return {false, describe(r.error())};
  }
  int status = r->status;
  if (WIFEXITED(status)) {
    int code = WEXITSTATUS(status);
    auto said = r->output;
    while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) {
      said.pop_back();
    }
    if (quiet && code == 1 && said.empty()) {
      return {true, "some aliases have no module", true};
    }
    return {code == 0,
            "exited with code " + std::to_string(code) + (said.empty() ? "" : ": " + said)};
  }
  if (WIFSIGNALED(status)) {
    return {false, "killed by signal " + std::to_string(WTERMSIG(status))};
  }
  return {false, "ended abnormally"};
}

}  // namespace

modprobe_result run_modprobe(const std::string& program, const std::vector<std::string>& aliases,
                             std::chrono::milliseconds timeout) {
  return run(program, {"-a", "-q", "-b", "--"}, aliases, timeout, true);
}

modprobe_result load_modules(const std::string& program, const std::vector<std::string>& modules,
                             std::chrono::milliseconds timeout) {
  return run(program, {"-a", "--"}, modules, timeout, false);
}

}  // namespace myelin::runtime
