// Firmware slot status and the KV changes of validate / revert / prevent_revert.
#include "myelin/runtime/firmware/firmware_status.hpp"

#include <cstdlib>

#include <caf/atom.hpp>
#include <caf/make_message.hpp>

#include "myelin/runtime/firmware/firmware_manifest.hpp"
#include "myelin/runtime/kv/kv_store.hpp"

namespace myelin::runtime {

namespace {

const std::string* find(const kv_map& kv, const std::string& key) {
  auto i = kv.find(key);
  return i == kv.end() ? nullptr : &i->second;
}

bool non_empty(const kv_map& kv, const std::string& key) {
  const auto* v = find(kv, key);
  return v != nullptr && !v->empty();
}

}  // namespace

std::string to_string(firmware_errc x) {
  switch (x) {
    case firmware_errc::no_firmware_to_revert_to:
      return "no_firmware_to_revert_to";
    case firmware_errc::unknown_slot:
      return "unknown_slot";
    case firmware_errc::slot_corrupt:
      return "slot_corrupt";
    case firmware_errc::unvalidated:
      return "unvalidated";
  }
  return "firmware_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(firmware_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("firmware"),
                    caf::make_message(std::move(context))};
}

std::string to_string(validation v) {
  switch (v) {
    case validation::validated:
      return "validated";
    case validation::unvalidated:
      return "unvalidated";
    case validation::unknown:
      return "unknown";
  }
  return "unknown";
}

std::string to_string(validation_scheme s) {
  return s == validation_scheme::uboot_bootcount ? "uboot_bootcount" : "nerves";
}

std::string other_slot(const std::string& slot) {
  if (slot == "a") {
    return "b";
  }
  if (slot == "b") {
    return "a";
  }
  return {};
}

validation_scheme scheme_of(const kv_map& kv) {
  return find(kv, "upgrade_available") != nullptr ? validation_scheme::uboot_bootcount
                                                  : validation_scheme::nerves;
}

validation validation_status(const kv_map& kv) {
  if (const auto* ua = find(kv, "upgrade_available")) {
    if (*ua == "0") {
      return validation::validated;
    }
    if (*ua == "1") {
      return validation::unvalidated;
    }
    return validation::unknown;
  }
  const auto* v = find(kv, active_slot(kv) + ".nerves_fw_validated");
  if (v == nullptr) {
    v = find(kv, "nerves_fw_validated");
  }
  if (v == nullptr) {
    return validation::unknown;
  }
  if (*v == "1") {
    return validation::validated;
  }
  if (*v == "0") {
    return validation::unvalidated;
  }
  return validation::unknown;
}

bool firmware_valid(const kv_map& kv) {
  return validation_status(kv) != validation::unvalidated;
}

bool holds_firmware(const kv_map& kv, const std::string& slot) {
  return non_empty(kv, slot + ".nerves_fw_platform") &&
         non_empty(kv, slot + ".nerves_fw_architecture");
}

std::optional<slot_record> recorded_image(const kv_map& kv, const std::string& slot) {
  const auto* hash = find(kv, slot + "." + std::string{rootfs_sha256_suffix});
  const auto* size = find(kv, slot + "." + std::string{rootfs_size_suffix});
  if (hash == nullptr || size == nullptr || size->empty()) {
    return std::nullopt;
  }
  slot_record r;
  r.sha256 = *hash;
  char* end = nullptr;
  r.size = std::strtoull(size->c_str(), &end, 10);
  if (end == nullptr || *end != '\0') {
    r.size = 0;
    r.sha256.clear();  // a record that cannot match
  }
  return r;
}

std::string next_slot(const kv_map& kv) {
  auto active = active_slot(kv);
  if (firmware_valid(kv)) {
    return active;
  }
  // A slot without metadata holds no firmware (never written, or torn: the
  // metadata goes before the first byte and comes back after the last).
  auto other = other_slot(active);
  return other.empty() || !holds_firmware(kv, other) ? active : other;
}

firmware_status status_of(const kv_map& kv) {
  firmware_status s;
  s.active = active_slot(kv);
  s.next = next_slot(kv);
  s.validation = validation_status(kv);
  s.scheme = scheme_of(kv);
  return s;
}

kv_changes validate_changes(const kv_map& kv) {
  kv_changes out;
  if (scheme_of(kv) == validation_scheme::uboot_bootcount) {
    out["upgrade_available"] = "0";
    out["bootcount"] = "0";
  }
  out["nerves_fw_validated"] = "1";
  auto slot_key = active_slot(kv) + ".nerves_fw_validated";
  if (find(kv, slot_key) != nullptr) {
    out[slot_key] = "1";
  }
  return out;
}

caf::expected<kv_changes> revert_changes(const kv_map& kv) {
  auto active = active_slot(kv);
  auto other = other_slot(active);
  if (other.empty()) {
    return make_error(firmware_errc::unknown_slot,
                      "active slot '" + active + "' is neither 'a' nor 'b'");
  }
  if (!holds_firmware(kv, other)) {
    return make_error(firmware_errc::no_firmware_to_revert_to,
                      "slot " + other + " holds no firmware to revert to");
  }
  kv_changes out;
  out[active_slot_key] = other;
  out["nerves_fw_validated"] = "1";
  if (find(kv, other + ".nerves_fw_validated") != nullptr) {
    out[other + ".nerves_fw_validated"] = "1";
  }
  if (scheme_of(kv) == validation_scheme::uboot_bootcount) {
    out["upgrade_available"] = "0";
    out["bootcount"] = "0";
  }
  return out;
}

kv_changes prevent_revert_changes(const kv_map& kv) {
  return forget_slot_changes(kv, other_slot(active_slot(kv)));
}

kv_changes forget_slot_changes(const kv_map& kv, const std::string& slot) {
  kv_changes out;
  if (slot.empty()) {
    return out;
  }
  auto prefix = slot + ".";
  for (auto i = kv.lower_bound(prefix); i != kv.end(); ++i) {
    if (i->first.compare(0, prefix.size(), prefix) != 0) {
      break;
    }
    out[i->first] = std::nullopt;
  }
  return out;
}

caf::expected<kv_changes> install_changes(const kv_map& kv, const firmware_manifest& m,
                                          const std::string& slot) {
  if (slot != "a" && slot != "b") {
    return make_error(firmware_errc::unknown_slot, "cannot install into slot '" + slot + "'");
  }
  kv_changes changes;
  for (auto& [key, value] : slot_metadata(m, slot)) {
    // An empty field is deleted, so nothing of the slot's previous firmware stays.
    changes[key] = value.empty() ? std::nullopt : std::optional<std::string>{value};
  }
  // What the slot must hold: revert checks it before choosing the slot.
  if (const auto* rootfs = m.find(rootfs_resource)) {
    changes[slot + "." + std::string{rootfs_sha256_suffix}] = rootfs->sha256;
    changes[slot + "." + std::string{rootfs_size_suffix}] = std::to_string(rootfs->size);
  }
  changes[active_slot_key] = slot;
  changes["nerves_fw_validated"] = "0";
  if (kv.count(slot + ".nerves_fw_validated") != 0) {
    changes[slot + ".nerves_fw_validated"] = "0";
  }
  if (scheme_of(kv) == validation_scheme::uboot_bootcount) {
    changes["upgrade_available"] = "1";
    changes["bootcount"] = "0";
  }
  return changes;
}

}  // namespace myelin::runtime
