// The myelin application SDK: what an application module includes.
//
// An application is a shared library exporting one entry point, written with
// MYELIN_APP. myelin-apphost loads it in its own process (or myelin-boot in
// process, for `isolation = "inproc"`), calls the entry point once to get the
// app's definition, starts the app's root supervision tree and answers the
// app's named commands (`myelin call APP COMMAND ARG...`).
//
//   #include <myelin/app.hpp>
//
//   static caf::expected<caf::actor> start(myelin::app::context& ctx) {
//     return myelin::supervisors::start_supervisor(ctx.system(), flags, children);
//   }
//   static caf::expected<std::string> hello(myelin::app::context&,
//                                           const std::vector<std::string>& args) {
//     return "hello, " + (args.empty() ? std::string{"world"} : args[0]);
//   }
//   MYELIN_APP(myelin::app::definition{start, {{"hello", hello}}})
//
// An app that drives hardware can start differently on a laptop: give
// `start_host` too (e.g. with the sensor simulated). myelin-boot runs it when
// its device.target is "host", and `start` on a device; an app without
// `start_host` starts the same everywhere. ctx.target() tells which it is.
//
//   MYELIN_APP(myelin::app::definition{start, {{"read", read}}, start_simulated})
//
// Core services are reached with ordinary actor messages: ctx.kv() and
// ctx.firmware() accept the messages of myelin/actors/kv.hpp and
// myelin/actors/firmware.hpp (kv_get_atom, kv_put_atom, fw_status_atom, ...)
// and answer as those services do, wherever the app runs. ctx.uevent() and
// ctx.net() take the subscriptions of myelin/actors/uevent.hpp and
// myelin/actors/net.hpp (uevent_subscribe_atom, net_subscribe_atom, ...) sent
// from an app actor, which then receives the same uevent_notice and
// (net_change_atom, property_change) messages a core actor would.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/config.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include "myelin/supervisors/supervisor.hpp"

namespace myelin::app {

/// The ABI of modules and hosts. A module is loaded only when its ABI
/// matches the host's exactly: SDK version, CAF version and the C++ standard
/// library ABI all cross the module boundary.
struct abi {
  /// Bumped whenever anything in this header changes incompatibly.
  /// 2: context::uevent() and context::net().
  /// 3: definition::start_host and context::target().
  /// 4: context::data_dir().
  static constexpr uint32_t sdk = 4;
  static constexpr uint32_t caf = CAF_VERSION;
  static constexpr uint32_t cxx11_abi = _GLIBCXX_USE_CXX11_ABI;
  static constexpr uint32_t gcc_major = __GNUC__;
};

/// What an app sees of its host: the actor system, its name and files, and
/// the core services.
class context {
 public:
  virtual ~context() = default;

  /// The actor system the app's actors run in.
  virtual caf::actor_system& system() = 0;

  /// The app's name (its section in the configuration).
  virtual const std::string& name() const = 0;

  /// The directory the app's module was loaded from (its `priv` data lives
  /// below it).
  virtual const std::string& module_dir() const = 0;

  /// The kv service (messages of myelin/actors/kv.hpp).
  virtual caf::actor kv() = 0;

  /// The firmware service (messages of myelin/actors/firmware.hpp).
  virtual caf::actor firmware() = 0;

  /// The uevent service (messages of myelin/actors/uevent.hpp). Subscribe
  /// from an actor: its subscriptions end when it does.
  virtual caf::actor uevent() = 0;

  /// The net service (messages of myelin/actors/net.hpp). Subscribe from an
  /// actor: its subscriptions end when it does.
  virtual caf::actor net() = 0;

  /// What the app runs on (device.target): "host" on a laptop, else the
  /// device's target name (e.g. "qemu_x86_64", "rpi4", "device").
  virtual const std::string& target() const = 0;

  /// The app's private data directory (<state.dir>/app-data/<name>, mode
  /// 0700, owned by the app's user; also its working directory and, when it
  /// runs as a user of its own, $HOME). Survives restarts, pushes and
  /// firmware updates; a factory reset wipes it with the app partition.
  virtual const std::string& data_dir() const = 0;
};

/// Starts the app's root supervision tree and returns its root. Runs once per
/// start of the app; must not block.
using start_fn = std::function<caf::expected<caf::actor>(context&)>;

/// A named command: gets the arguments, returns the reply text or an error.
/// Runs on the host's command thread, so it may block (e.g. a scoped_actor
/// asking the app's actors) without stalling the app.
using command_fn =
    std::function<caf::expected<std::string>(context&, const std::vector<std::string>& args)>;

/// Everything the host needs to know about an app.
struct definition {
  /// Starts the app on a device (and on the host when start_host is empty).
  start_fn start;
  std::map<std::string, command_fn> commands;
  /// Optional: starts the app on a laptop (device.target = "host"), for
  /// example with its hardware simulated.
  start_fn start_host = {};
};

/// The start function a host with this target runs, and its name ("start"
/// or "start_host").
inline std::pair<const start_fn*, const char*> start_for(const definition& app,
                                                         const std::string& target) {
  if (target == "host" && app.start_host) {
    return {&app.start_host, "start_host"};
  }
  return {&app.start, "start"};
}

/// What the entry point returns; plain C layout so that the host can check
/// the ABI before touching any C++ type of the module.
struct module_info {
  uint32_t sdk_abi;
  uint32_t caf_version;
  uint32_t cxx11_abi;
  uint32_t gcc_major;
  /// Valid only when the ABI matches.
  const definition* app;
};

}  // namespace myelin::app

/// The name of the entry point every module exports.
#define MYELIN_APP_ENTRY_NAME "myelin_app_module_info"

/// Defines the module's entry point from a myelin::app::definition.
#define MYELIN_APP(...)                                                                            \
  extern "C" __attribute__((visibility("default"))) const ::myelin::app::module_info*              \
  myelin_app_module_info() {                                                                       \
    static const ::myelin::app::definition app_definition = __VA_ARGS__;                           \
    static const ::myelin::app::module_info info{::myelin::app::abi::sdk, ::myelin::app::abi::caf, \
                                                 ::myelin::app::abi::cxx11_abi,                    \
                                                 ::myelin::app::abi::gcc_major, &app_definition};  \
    return &info;                                                                                  \
  }
