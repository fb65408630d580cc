// What an app may do through the core's services (app_grants.hpp).
#include "myelin/runtime/apps/app_grants.hpp"

#include <algorithm>
#include <string_view>

namespace myelin::runtime {

namespace {

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

constexpr std::string_view public_read[] = {"nerves_", "a.nerves_", "b.nerves_"};

std::string own(const app_grants& g) {
  return "app." + g.app + ".";
}

bool any_prefix(const std::vector<std::string>& prefixes, const std::string& key) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return !p.empty() && starts_with(key, p); });
}

}  // namespace

bool protected_key(const std::string& key) {
  // U-Boot's own variables that decide how and what boots, and what the
  // bootcount scheme counts with.
  static constexpr std::string_view exact[] = {
      "bootargs",      "bootcmd",  "altbootcmd", "bootcount",    "bootlimit", "upgrade_available",
      "bootdelay",     "preboot",  "bootfile",   "boot_targets", "fdtfile",   "fdt_addr_r",
      "kernel_addr_r", "loadaddr", "baudrate",   "stdin",        "stdout",    "stderr",
      "ethaddr",       "serial#",  "console",    "silent"};
  for (auto k : exact) {
    if (key == k) {
      return true;
    }
  }
  // Nerves' and myelin's: the active slot, validation, slot metadata and
  // recorded images, for the environment and for each slot.
  static constexpr std::string_view prefixes[] = {"nerves_", "a.nerves_", "b.nerves_",
                                                  "myelin_", "a.myelin_", "b.myelin_"};
  for (auto p : prefixes) {
    if (starts_with(key, p)) {
      return true;
    }
  }
  return false;
}

std::string read_refusal(const app_grants& g, const std::string& key) {
  if (starts_with(key, own(g)) || any_prefix(g.kv_read, key) || any_prefix(g.kv_write, key)) {
    return {};
  }
  for (auto p : public_read) {
    if (starts_with(key, p)) {
      return {};
    }
  }
  return "app " + g.app + " may not read '" + key + "' (its keys are " + own(g) +
         "*; grant more with apps." + g.app + ".kv_read)";
}

std::string write_refusal(const app_grants& g, const std::string& key) {
  if (protected_key(key)) {
    return "app " + g.app + " may not write '" + key +
           "': the bootloader's and firmware's variables are never writable by apps";
  }
  if (starts_with(key, own(g)) || any_prefix(g.kv_write, key)) {
    return {};
  }
  return "app " + g.app + " may not write '" + key + "' (its keys are " + own(g) +
         "*; grant more with apps." + g.app + ".kv_write)";
}

std::string describe(const app_grants& g) {
  std::string read = own(g) + ", nerves_*, a.nerves_*, b.nerves_*";
  for (const auto& p : g.kv_read) {
    read += ", " + p;
  }
  std::string write = own(g);
  for (const auto& p : g.kv_write) {
    write += ", " + p;
  }
  return "kv read: " + read + "; kv write: " + write + "; firmware: " + g.firmware;
}

}  // namespace myelin::runtime
