// The fault app: misbehaves on command, for tests of isolation and recovery.
// `myelin call fault <throw|abort|segfault|hang|leak|exit [CODE]>`; each fault
// happens ~20 ms after the reply, inside the app's actors (or, for leak, a
// thread of its own), as a real bug would.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "myelin/app.hpp"

namespace {

using namespace std::chrono_literals;
using fault_atom = caf::atom_constant<caf::atom("fault")>;
using spin_atom = caf::atom_constant<caf::atom("spin")>;

caf::behavior spinner(caf::event_based_actor*) {
  return {[](spin_atom) {
    // Never returns: wedges one scheduler thread.
    volatile uint64_t x = 0;
    while (true) {
      x = x + 1;
    }
  }};
}

caf::behavior faulty(caf::event_based_actor* self) {
  return {[self](fault_atom, const std::string& kind, int code) {
    if (kind == "throw") {
      throw std::runtime_error("fault: thrown on command");
    }
    if (kind == "abort") {
      std::abort();
    }
    if (kind == "segfault") {
      volatile int* nowhere = nullptr;
      *nowhere = 42;
    }
    if (kind == "hang") {
      // Wedge every scheduler thread, as a deadlock under a global lock would.
      auto threads = caf::get_or(self->system().config(), "scheduler.max-threads", size_t{2});
      for (size_t i = 0; i < threads + 1; ++i) {
        caf::anon_send(self->system().spawn(spinner), spin_atom::value);
      }
    }
    if (kind == "leak") {
      std::thread([] {
        std::vector<char*> hoard;
        while (true) {
          auto* block = new char[16 << 20];
          std::memset(block, 0x5a, 16 << 20);
          hoard.push_back(block);
        }
      }).detach();
    }
    if (kind == "exit") {
      std::_Exit(code);
    }
  }};
}

caf::actor the_fault;

caf::expected<caf::actor> start(myelin::app::context& ctx) {
  myelin::supervisors::supervisor_flags flags;
  flags.name = "fault";
  flags.intensity = 10;
  auto worker = myelin::supervisors::worker(
      "faulty", [](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        the_fault = sys.spawn(faulty);
        return the_fault;
      });
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {worker});
}

caf::expected<std::string> fault(const std::string& kind, myelin::app::context& ctx,
                                 const std::vector<std::string>& args) {
  int code = args.empty() ? 0 : std::atoi(args[0].c_str());
  caf::scoped_actor self{ctx.system()};
  self->delayed_send(the_fault, 20ms, fault_atom::value, kind, code);
  return kind + " in 20 ms";
}

myelin::app::command_fn fault_command(const std::string& kind) {
  return [kind](myelin::app::context& ctx, const std::vector<std::string>& args) {
    return fault(kind, ctx, args);
  };
}

caf::expected<std::string> ping(myelin::app::context&, const std::vector<std::string>&) {
  return std::string{"pong"};
}

}  // namespace

MYELIN_APP(myelin::app::definition{start,
                                   {{"throw", fault_command("throw")},
                                    {"abort", fault_command("abort")},
                                    {"segfault", fault_command("segfault")},
                                    {"hang", fault_command("hang")},
                                    {"leak", fault_command("leak")},
                                    {"exit", fault_command("exit")},
                                    {"ping", ping}}})
