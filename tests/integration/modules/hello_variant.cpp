// A variant of the hello app for push tests: another greeting (HELLO_GREETING),
// or (HELLO_CRASH) a segfault in start after a line on stderr. Otherwise the
// same greeter and `hello [NAME]` command as apps/hello.
#include <cstdio>

#include <caf/all.hpp>

#include "myelin/app.hpp"

namespace {

using namespace std::chrono_literals;
using greet_atom = caf::atom_constant<caf::atom("greet")>;

/// The greeting this version of the app answers with.
#ifndef HELLO_GREETING
#define HELLO_GREETING "Hello from pushed myelin"
#endif
constexpr const char* greeting = HELLO_GREETING;

caf::behavior greeter(caf::event_based_actor*) {
  return {[](greet_atom, const std::string& name) {
    return std::string{greeting} + ", " + name + "!";
  }};
}

caf::actor the_greeter;

caf::expected<caf::actor> start(myelin::app::context& ctx) {
#ifdef HELLO_CRASH
  std::fprintf(stderr, "hello (crash variant): about to write through a null pointer\n");
  std::fflush(stderr);
  *static_cast<volatile int*>(nullptr) = 1;
#endif
  myelin::supervisors::supervisor_flags flags;
  flags.name = "hello";
  auto worker = myelin::supervisors::worker(
      "greeter", [](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        the_greeter = sys.spawn(greeter);
        return the_greeter;
      });
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
