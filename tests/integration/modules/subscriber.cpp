// A test app that subscribes to the uevent and net services through the SDK
// (ctx.uevent(), ctx.net()) from one of its actors and answers commands with
// what that actor received:
//   usub SUBSYSTEM   subscribe to uevents of SUBSYSTEM; replies the subscription id
//   uevents          the received events, one "ACTION DEVPATH SUBSYSTEM" line each
//   nsub PREFIX      subscribe to net properties under PREFIX; replies the count of
//                    current values
//   nprops           the properties as received (current values, then changes), "NAME=VALUE"
//   ustats           the uevent service's subscriber count (a plain request)
//   drop             the watcher actor ends (its supervisor restarts it, unsubscribed)
//   bad              sends malformed and refused requests; replies one error per line
#include <sstream>

#include <caf/all.hpp>

#include "myelin/actors/net.hpp"
#include "myelin/actors/uevent.hpp"
#include "myelin/app.hpp"

namespace {

using namespace std::chrono_literals;
using namespace myelin::actors;
using usub_atom = caf::atom_constant<caf::atom("tusub")>;
using nsub_atom = caf::atom_constant<caf::atom("tnsub")>;
using uevents_atom = caf::atom_constant<caf::atom("tuevents")>;
using nprops_atom = caf::atom_constant<caf::atom("tnprops")>;
using drop_atom = caf::atom_constant<caf::atom("tdrop")>;

struct watcher_state {
  std::vector<std::string> uevents;
  net_properties props;
};

caf::behavior watcher(caf::stateful_actor<watcher_state>* self, caf::actor uevent, caf::actor net) {
  return {
      [self, uevent](usub_atom, std::string& subsystem) {
        auto rp = self->make_response_promise();
        self->request(uevent, 10s, uevent_subscribe_atom::value, std::string{}, subsystem)
            .then([rp](uint64_t id) mutable { rp.deliver(std::to_string(id)); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self, net](nsub_atom, std::string& prefix) {
        auto rp = self->make_response_promise();
        self->request(net, 10s, net_subscribe_atom::value, prefix)
            .then(
                [self, rp](net_properties& props) mutable {
                  for (auto& [k, v] : props) {
                    self->state.props[k] = v;
                  }
                  rp.deliver(std::to_string(props.size()));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](uevent_notice& n) {
        self->state.uevents.push_back(n.action + " " + n.devpath + " " + n.subsystem);
      },
      [self](net_change_atom, myelin::runtime::property_change& c) {
        if (c.new_value.empty()) {
          self->state.props.erase(c.name);
        } else {
          self->state.props[c.name] = c.new_value;
        }
      },
      [self](uevents_atom) {
        std::string out;
        for (auto& line : self->state.uevents) {
          out += line + "\n";
        }
        return out;
      },
      [self](nprops_atom) {
        std::string out;
        for (auto& [k, v] : self->state.props) {
          out += k + "=" + v + "\n";
        }
        return out;
      },
      [self](drop_atom) { self->quit(); },
  };
}

caf::actor the_watcher;

caf::expected<caf::actor> start(myelin::app::context& ctx) {
  myelin::supervisors::supervisor_flags flags;
  flags.name = "subscriber";
  auto uevent = ctx.uevent();
  auto net = ctx.net();
  auto worker = myelin::supervisors::worker(
      "watcher",
      [uevent, net](caf::actor_system& sys, const caf::message&) -> caf::expected<caf::actor> {
        the_watcher = sys.spawn(watcher, uevent, net);
        return the_watcher;
      });
  return myelin::supervisors::start_supervisor(ctx.system(), flags, {worker});
}

/// Asks the watcher with `xs` and returns its text reply.
template <class... Ts>
caf::expected<std::string> ask(myelin::app::context& ctx, Ts&&... xs) {
  caf::scoped_actor self{ctx.system()};
  caf::expected<std::string> reply{caf::error{}};
  self->request(the_watcher, 20s, std::forward<Ts>(xs)...)
      .receive([&](std::string& text) { reply = std::move(text); },
               [&](caf::error& err) { reply = std::move(err); });
  return reply;
}

/// Sends each request of `bad` requests and collects the errors (or "ok").
caf::expected<std::string> bad(myelin::app::context& ctx) {
  caf::scoped_actor self{ctx.system()};
  std::string out;
  auto ask_bad = [&](const caf::actor& service, caf::message request) {
    self->request(service, 10s, std::move(request))
        .receive([&]() { out += "ok\n"; },
                 [&](caf::error& err) { out += ctx.system().render(err) + "\n"; });
  };
  ask_bad(ctx.uevent(), caf::make_message(uevent_subscribe_atom::value, int32_t{42}));
  ask_bad(ctx.net(), caf::make_message(net_subscribe_atom::value));
  ask_bad(ctx.uevent(),
          caf::make_message(uevent_follow_atom::value, uint64_t{0}, std::string{}, uint32_t{0}));
  ask_bad(ctx.net(), caf::make_message(net_renew_atom::value, std::string{"lo"}));
  ask_bad(ctx.uevent(), caf::make_message(std::string{"no atom"}));
  return out;
}

std::string arg(const std::vector<std::string>& args) {
  return args.empty() ? std::string{} : args[0];
}

}  // namespace

MYELIN_APP(myelin::app::definition{
    start,
    {{"usub",
      [](myelin::app::context& ctx, const std::vector<std::string>& args) {
        return ask(ctx, usub_atom::value, arg(args));
      }},
     {"nsub",
      [](myelin::app::context& ctx, const std::vector<std::string>& args) {
        return ask(ctx, nsub_atom::value, arg(args));
      }},
     {"uevents", [](myelin::app::context& ctx,
                    const std::vector<std::string>&) { return ask(ctx, uevents_atom::value); }},
     {"nprops", [](myelin::app::context& ctx,
                   const std::vector<std::string>&) { return ask(ctx, nprops_atom::value); }},
     {"ustats",
      [](myelin::app::context& ctx, const std::vector<std::string>&) -> caf::expected<std::string> {
        caf::scoped_actor self{ctx.system()};
        caf::expected<std::string> reply{caf::error{}};
        self->request(ctx.uevent(), 10s, uevent_stats_atom::value)
            .receive([&](uevent_stats& s) { reply = std::to_string(s.subscribers); },
                     [&](caf::error& err) { reply = std::move(err); });
        return reply;
      }},
     {"bad", [](myelin::app::context& ctx, const std::vector<std::string>&) { return bad(ctx); }},
     {"drop",
      [](myelin::app::context&, const std::vector<std::string>&) -> caf::expected<std::string> {
        caf::anon_send(the_watcher, drop_atom::value);
        return std::string{"dropped"};
      }}}})
