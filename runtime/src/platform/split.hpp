// Splitting text at a separator, for the runtime's small parsers.
#pragma once

#include <string_view>
#include <vector>

namespace myelin::runtime {

/// The pieces of `s` between the `sep` characters, empty ones included
/// ("a..b" → "a", "", "b"; "" → one empty piece). Views into `s`.
inline std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos - start));
    if (pos == std::string_view::npos) {
      return out;
    }
    start = pos + 1;
  }
}

}  // namespace myelin::runtime
