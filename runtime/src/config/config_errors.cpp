// The configuration's error category and describe(), apart from the parser so
// that binaries which only report errors (myelin-apphost) do not link the TOML
// library and the schema.
#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include "myelin/runtime/config/config.hpp"

namespace myelin::runtime {

std::string to_string(config_errc x) {
  switch (x) {
    case config_errc::unreadable:
      return "unreadable";
    case config_errc::syntax_error:
      return "syntax_error";
    case config_errc::unknown_key:
      return "unknown_key";
    case config_errc::type_mismatch:
      return "type_mismatch";
    case config_errc::invalid_value:
      return "invalid_value";
    case config_errc::bad_override:
      return "bad_override";
  }
  return "config_errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(config_errc x, std::string context) {
  return caf::error{static_cast<uint8_t>(x), caf::atom("config"),
                    caf::make_message(std::move(context))};
}

std::string describe(const caf::error& err) {
  if (!err) {
    return "no error";
  }
  const auto& ctx = err.context();
  if (!ctx.empty() && ctx.match_element<std::string>(0)) {
    return ctx.get_as<std::string>(0);
  }
  return caf::to_string(err);
}

}  // namespace myelin::runtime
