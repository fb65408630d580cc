// The published read-only copy of the kv store.
#include "myelin/actors/kv_snapshot.hpp"

#include <map>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>

#include "myelin/runtime/kv/kv_store.hpp"

namespace myelin::actors {

namespace {

caf::message not_found(const std::string& key) {
  return caf::make_message(
      runtime::make_error(runtime::kv_errc::not_found, "no key '" + key + "'"));
}

}  // namespace

kv_snapshot& kv_snapshot::of(caf::actor_system& sys) {
  // Never freed: an actor system's snapshot must outlive every reader.
  static std::mutex mtx;
  static auto* all = new std::map<const caf::actor_system*, kv_snapshot*>;
  std::lock_guard<std::mutex> guard{mtx};
  auto& slot = (*all)[&sys];
  if (slot == nullptr) {
    slot = new kv_snapshot;
  }
  return *slot;
}

void kv_snapshot::publish(std::shared_ptr<const contents> next) {
  std::lock_guard<std::mutex> guard{mtx_};
  current_ = std::move(next);
}

void kv_snapshot::withdraw(const void* owner) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (current_ && current_->owner == owner) {
    current_ = nullptr;
  }
}

std::shared_ptr<const kv_snapshot::contents> kv_snapshot::current() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return current_;
}

std::optional<caf::message> kv_snapshot::answer(const caf::message& request) const {
  if (request.empty() || !request.match_element<caf::atom_value>(0)) {
    return std::nullopt;
  }
  auto op = request.get_as<caf::atom_value>(0);
  bool keyed = op == kv_get_atom::value || op == kv_get_active_atom::value;
  bool plain = op == kv_get_all_atom::value || op == kv_get_all_active_atom::value ||
               op == kv_status_atom::value;
  if (keyed ? !request.match_elements<caf::atom_value, std::string>()
            : !(plain && request.size() == 1)) {
    return std::nullopt;
  }
  auto now = current();
  if (!now) {
    return std::nullopt;
  }
  const auto& values = now->values;
  if (op == kv_status_atom::value) {
    return caf::make_message(now->status);
  }
  if (op == kv_get_all_atom::value) {
    return caf::make_message(values);
  }
  if (op == kv_get_atom::value) {
    const auto& key = request.get_as<std::string>(1);
    auto i = values.find(key);
    return i != values.end() ? caf::make_message(i->second) : not_found(key);
  }
  if (op == kv_get_active_atom::value) {
    const auto& key = request.get_as<std::string>(1);
    auto v = runtime::get_active(values, key);
    return v ? caf::make_message(*v) : not_found(runtime::active_slot(values) + "." + key);
  }
  return caf::make_message(runtime::get_all_active(values));
}

}  // namespace myelin::actors
