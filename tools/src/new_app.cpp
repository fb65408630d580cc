// `myelin new APP`: scaffolds an app module (source, CMakeLists.txt, priv/,
// app.toml) that builds against the myelin SDK and is installed by one push.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>

#include "commands.hpp"

#ifndef MYELIN_SDK_DEFAULT
#define MYELIN_SDK_DEFAULT ""
#endif

namespace myelin::tools {

namespace {

namespace fs = std::filesystem;

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

constexpr const char* cmake_template =
    R"(# The myelin app @APP@: a module built against the myelin SDK.
#   cmake -B build && cmake --build build      -> build/apps/@APP@/lib@APP@.so (+ priv/)
#   myelin push --build-dir build @APP@         (or: myelin watch --source-dir . --build-dir build @APP@)
cmake_minimum_required(VERSION 3.16)
project(@APP@ LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 17)
set(CMAKE_CXX_STANDARD_REQUIRED ON)

set(MYELIN_SDK_DIR "@SDK@" CACHE PATH "The myelin SDK: its cmake/ and include directories")
list(APPEND CMAKE_MODULE_PATH "${MYELIN_SDK_DIR}/cmake")
find_package(CAF 0.17.6 REQUIRED COMPONENTS core)
include(MyelinApp)

# app.toml: the app's own defaults (restart, memory limit, ...), beside the module.
myelin_add_app(@APP@ SOURCES @APP@.cpp APP_TOML ${CMAKE_CURRENT_SOURCE_DIR}/app.toml)
# The app's data, next to its module: what ctx.module_dir() + "/priv" finds.
# configure_file: any build copies a changed (or new) file, without a relink.
file(GLOB_RECURSE priv_files CONFIGURE_DEPENDS RELATIVE ${CMAKE_CURRENT_SOURCE_DIR}/priv
     ${CMAKE_CURRENT_SOURCE_DIR}/priv/*)
foreach(file ${priv_files})
  configure_file(priv/${file} ${PROJECT_BINARY_DIR}/apps/@APP@/priv/${file} COPYONLY)
endforeach()
)";

constexpr const char* app_toml_template =
    R"(# The defaults of the app @APP@ on a device (docs/writing-an-app.md). Pushed
# with the app; a device's own [apps.@APP@] section wins, key by key.
restart = "permanent"        # permanent, transient or temporary (OTP)
intensity = 3                # restarts allowed within period_ms; one more: failed
period_ms = 5000
memory_limit_mb = 256        # address-space limit of its app host; 0: none
isolation = "process"        # its own app host process
on_failure = "continue"      # what a failed app does to the device: continue, halt, reboot
)";

constexpr const char* source_template =
    R"(// The @APP@ app: one worker actor under the app's supervisor, and the command
// `greet [NAME]` that answers with the greeting in priv/greeting.txt.
#include <fstream>

#include <caf/all.hpp>

#include "myelin/app.hpp"

namespace {

using namespace std::chrono_literals;
using greet_atom = caf::atom_constant<caf::atom("greet")>;

caf::actor the_worker;

caf::behavior worker(caf::event_based_actor*, std::string greeting) {
  return {[greeting](greet_atom, const std::string& name) { return greeting + ", " + name + "!"; }};
}

caf::expected<caf::actor> start(myelin::app::context& ctx) {
  std::string greeting = "Hello";
  std::ifstream in{ctx.module_dir() + "/priv/greeting.txt"};
  std::getline(in, greeting);
  myelin::supervisors::supervisor_flags flags;
  flags.name = "@APP@";
  auto child = myelin::supervisors::worker(
      "worker", [greeting](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        the_worker = sys.spawn(worker, greeting);
        return the_worker;
      });
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {child});
}

caf::expected<std::string> greet(myelin::app::context& ctx, const std::vector<std::string>& args) {
  caf::scoped_actor self{ctx.system()};
  caf::expected<std::string> reply{caf::error{}};
  self->request(the_worker, 2s, greet_atom::value, args.empty() ? std::string{"world"} : args[0])
      .receive([&](std::string& text) { reply = std::move(text); },
               [&](caf::error& err) { reply = std::move(err); });
  return reply;
}

}  // namespace

MYELIN_APP(myelin::app::definition{start, {{"greet", greet}}})
)";

/// How the user runs this tool: "myelin" when that is on PATH and is this
/// binary, else this binary's path.
std::string tool_command() {
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return "myelin";
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "";
  for (size_t start = 0; start <= dirs.size();) {
    auto end = dirs.find(':', start);
    auto dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) {
      auto candidate = fs::path{dir} / "myelin";
      if (fs::exists(candidate, ec) && fs::equivalent(candidate, self, ec)) {
        return "myelin";
      }
    }
    if (end == std::string::npos) {
      break;
    }
    start = end + 1;
  }
  return self.string();
}

}  // namespace

void add_new_command(CLI::App& app) {
  auto name = std::make_shared<std::string>();
  auto dir = std::make_shared<std::string>(".");
  auto sdk = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("new", "Scaffold an app module in DIR/APP/");
  cmd->add_option("APP", *name, "The app's name (letters, digits, _)")->required();
  cmd->add_option("--dir", *dir, "Where to create it")->capture_default_str();
  cmd->add_option("--sdk", *sdk,
                  "The myelin SDK (source tree with cmake/ and the headers; default: $MYELIN_SDK, "
                  "else the tree this myelin was built from)");
  cmd->callback([name, dir, sdk] {
    if (!std::regex_match(*name, std::regex{"[A-Za-z][A-Za-z0-9_]{0,63}"})) {
      std::cerr << "myelin new: '" << *name
                << "' is not an app name (a letter, then letters, digits, _)\n";
      finish(2);
    }
    std::string sdk_dir = *sdk;
    if (sdk_dir.empty()) {
      const char* env = std::getenv("MYELIN_SDK");
      sdk_dir = env != nullptr ? env : MYELIN_SDK_DEFAULT;
    }
    if (!fs::exists(fs::path{sdk_dir} / "cmake" / "MyelinApp.cmake")) {
      std::cerr << "myelin new: no myelin SDK at '" << sdk_dir
                << "' (cmake/MyelinApp.cmake missing); pass --sdk\n";
      finish(1);
    }
    auto root = fs::path{*dir} / *name;
    if (fs::exists(root)) {
      std::cerr << "myelin new: " << root.string() << " already exists\n";
      finish(1);
    }
    std::error_code ec;
    fs::create_directories(root / "priv", ec);
    if (ec) {
      std::cerr << "myelin new: " << root.string() << ": " << ec.message() << "\n";
      finish(1);
    }
    auto write = [&](const fs::path& file, const std::string& text) {
      std::ofstream out{file};
      out << text;
      if (!out) {
        std::cerr << "myelin new: cannot write " << file.string() << "\n";
        finish(1);
      }
    };
    auto fill = [&](const char* t) {
      return replace_all(replace_all(t, "@APP@", *name), "@SDK@",
                         fs::absolute(sdk_dir).lexically_normal().string());
    };
    write(root / "CMakeLists.txt", fill(cmake_template));
    write(root / (*name + ".cpp"), fill(source_template));
    write(root / "priv" / "greeting.txt", "Hello from " + *name + "\n");
    write(root / "app.toml", fill(app_toml_template));
    auto shown = fs::absolute(root).lexically_normal().string();
    auto build = shown + "/build";
    auto tool = tool_command();
    std::cout << "created " << shown << "\n"
              << "build it, install it on the device (it starts at once) and call it:\n"
              << "  cmake -S " << shown << " -B " << build << " && cmake --build " << build << "\n"
              << "  " << tool << " push --build-dir " << build << " " << *name << "\n"
              << "  " << tool << " call " << *name << " greet\n"
              << "or rebuild and push on every save:\n"
              << "  " << tool << " watch --source-dir " << shown << " --build-dir " << build << " "
              << *name << "\n";
    finish(0);
  });
}

}  // namespace myelin::tools
