// The hello app: a greeter actor under the app's own supervisor, and the
// command `hello [NAME]` that asks it for a greeting.
#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include "myelin/app.hpp"

namespace {

using namespace std::chrono_literals;
using greet_atom = caf::atom_constant<caf::atom("greet")>;

/// The greeting this version of the app answers with.
constexpr const char* greeting = "Hello from myelin";

caf::behavior greeter(caf::event_based_actor*) {
  return {[](greet_atom, const std::string& name) {
    spdlog::info("greeting {}", name);
    return std::string{greeting} + ", " + name + "!";
  }};
}

caf::actor the_greeter;

caf::expected<caf::actor> start(myelin::app::context& ctx) {
  myelin::supervisors::supervisor_flags flags;
  flags.name = "hello";
  auto worker = myelin::supervisors::worker(
      "greeter", [](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        the_greeter = sys.spawn(greeter);
        return the_greeter;
      });
  spdlog::info("starting the greeter of app {}", ctx.name());
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {worker});
}

caf::expected<std::string> hello(myelin::app::context& ctx, const std::vector<std::string>& args) {
  caf::scoped_actor self{ctx.system()};
  caf::expected<std::string> reply{caf::error{}};
  self->request(the_greeter, 2s, greet_atom::value, args.empty() ? std::string{"world"} : args[0])
      .receive([&](std::string& text) { reply = std::move(text); },
               [&](caf::error& err) { reply = std::move(err); });
  return reply;
}

}  // namespace

MYELIN_APP(myelin::app::definition{start, {{"hello", hello}}})
