// The Nerves KV API over a backend, and the in-memory backend.
#include "myelin/runtime/kv/kv_store.hpp"

#include "myelin/runtime/kv/memory_kv.hpp"

namespace myelin::runtime {

caf::error memory_kv_backend::write(const kv_changes& changes) {
  if (auto err = check_changes(changes)) {
    return err;
  }
  for (const auto& [key, value] : changes) {
    if (value) {
      values_[key] = *value;
    } else {
      values_.erase(key);
    }
  }
  return {};
}

kv_store::kv_store(std::unique_ptr<kv_backend> backend) : backend_(std::move(backend)) {
  reload();
}

caf::error kv_store::reload() {
  auto contents = backend_->read();
  if (!contents) {
    last_error_ = contents.error();
    return last_error_;
  }
  values_ = std::move(*contents);
  last_error_ = caf::error{};
  return {};
}

std::optional<std::string> kv_store::get(const std::string& key) const {
  auto i = values_.find(key);
  if (i == values_.end()) {
    return std::nullopt;
  }
  return i->second;
}

std::string active_slot(const kv_map& values) {
  auto i = values.find(active_slot_key);
  return i != values.end() && !i->second.empty() ? i->second : std::string{default_active_slot};
}

std::optional<std::string> get_active(const kv_map& values, const std::string& key) {
  auto i = values.find(active_slot(values) + "." + key);
  if (i == values.end()) {
    return std::nullopt;
  }
  return i->second;
}

kv_map get_all_active(const kv_map& values) {
  kv_map out;
  auto prefix = active_slot(values) + ".";
  for (auto i = values.lower_bound(prefix); i != values.end(); ++i) {
    if (i->first.compare(0, prefix.size(), prefix) != 0) {
      break;
    }
    out.emplace(i->first.substr(prefix.size()), i->second);
  }
  return out;
}

std::string kv_store::active_slot() const {
  return runtime::active_slot(values_);
}

std::optional<std::string> kv_store::get_active(const std::string& key) const {
  return runtime::get_active(values_, key);
}

kv_map kv_store::get_all_active() const {
  return runtime::get_all_active(values_);
}

caf::error kv_store::put(const std::string& key, const std::string& value) {
  return apply({{key, value}});
}

caf::error kv_store::put(const kv_map& values) {
  kv_changes changes;
  for (const auto& [k, v] : values) {
    changes.emplace(k, v);
  }
  return apply(changes);
}

caf::error kv_store::put_active(const kv_map& values) {
  kv_changes changes;
  auto slot = active_slot();
  for (const auto& [k, v] : values) {
    if (auto err = check_key(k)) {
      return err;
    }
    changes.emplace(slot + "." + k, v);
  }
  return apply(changes);
}

caf::error kv_store::apply(const kv_changes& changes) {
  // Refuse bad keys before touching the backend, whatever the backend checks.
  if (auto err = check_changes(changes)) {
    return err;
  }
  if (changes.empty()) {
    return {};
  }
  // What the store holds after the write: the backend is the truth (e.g. a
  // fresh environment written over an unreadable one holds only the new keys).
  auto contents = backend_->write_and_read(changes);
  if (!contents) {
    return contents.error();
  }
  values_ = std::move(*contents);
  last_error_ = caf::error{};
  return {};
}

}  // namespace myelin::runtime
