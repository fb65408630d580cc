// `myelin keys generate NAME`: an ed25519 key pair for signing overlays.
#include <iostream>

#include "commands.hpp"
#include "myelin/runtime/config/config.hpp"
#include "myelin/runtime/platform/signing.hpp"

namespace myelin::tools {

void add_keys_command(CLI::App& app) {
  auto* keys = app.add_subcommand("keys", "Signing keys for overlays");
  keys->require_subcommand(1);
  auto name = std::make_shared<std::string>();
  auto* gen = keys->add_subcommand(
      "generate",
      "Write NAME.pub and NAME.key (0600); put NAME.pub's line in the device's "
      "overlays.trusted_keys");
  gen->add_option("NAME", *name, "Path and name of the key files, without extension")->required();
  gen->callback([name] {
    auto pair = runtime::generate_key_pair();
    if (auto err = runtime::write_key_pair(pair, *name)) {
      std::cerr << "myelin keys: " << runtime::describe(err) << "\n";
      finish(1);
    }
    std::cout << "wrote " << *name << ".pub and " << *name << ".key\n"
              << "trust it on the device (myelin.toml):\n"
              << "  [overlays]\n"
              << "  trusted_keys = [\"" << runtime::format_public_key(pair.pub) << "\"]\n";
    finish(0);
  });
}

}  // namespace myelin::tools
