// Semantic Versioning 2.0 precedence (see version_order.hpp).
#include "myelin/runtime/firmware/version_order.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace myelin::runtime {

namespace {

struct parsed {
  std::string_view core[3];
  std::vector<std::string_view> pre;
};

bool numeric(std::string_view s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

bool identifier(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](unsigned char c) { return std::isalnum(c) || c == '-'; });
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    auto at = s.find(sep, start);
    out.push_back(
        s.substr(start, at == std::string_view::npos ? std::string_view::npos : at - start));
    if (at == std::string_view::npos) {
      return out;
    }
    start = at + 1;
  }
}

std::optional<parsed> parse(std::string_view v) {
  if (v.empty() || v.size() > 256) {
    return std::nullopt;
  }
  auto plus = v.find('+');
  if (plus != std::string_view::npos) {
    for (auto id : split(v.substr(plus + 1), '.')) {
      if (!identifier(id)) {
        return std::nullopt;
      }
    }
    v = v.substr(0, plus);
  }
  parsed p;
  auto dash = v.find('-');
  if (dash != std::string_view::npos) {
    for (auto id : split(v.substr(dash + 1), '.')) {
      if (!identifier(id) || (numeric(id) && id.size() > 1 && id[0] == '0')) {
        return std::nullopt;
      }
      p.pre.push_back(id);
    }
    v = v.substr(0, dash);
  }
  auto parts = split(v, '.');
  if (parts.size() != 3) {
    return std::nullopt;
  }
  for (size_t i = 0; i < 3; ++i) {
    if (!numeric(parts[i]) || (parts[i].size() > 1 && parts[i][0] == '0') || parts[i].size() > 18) {
      return std::nullopt;
    }
    p.core[i] = parts[i];
  }
  return p;
}

int compare_numbers(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) {
    return a.size() < b.size() ? -1 : 1;
  }
  return a.compare(b) < 0 ? -1 : a.compare(b) > 0 ? 1 : 0;
}

}  // namespace

bool is_semver(std::string_view v) {
  return parse(v).has_value();
}

std::optional<int> compare_versions(std::string_view a, std::string_view b) {
  auto x = parse(a);
  auto y = parse(b);
  if (!x || !y) {
    return std::nullopt;
  }
  for (size_t i = 0; i < 3; ++i) {
    if (int c = compare_numbers(x->core[i], y->core[i]); c != 0) {
      return c;
    }
  }
  if (x->pre.empty() || y->pre.empty()) {
    return x->pre.empty() == y->pre.empty() ? 0 : x->pre.empty() ? 1 : -1;
  }
  for (size_t i = 0; i < std::min(x->pre.size(), y->pre.size()); ++i) {
    auto p = x->pre[i];
    auto q = y->pre[i];
    bool pn = numeric(p);
    bool qn = numeric(q);
    int c = pn && qn           ? compare_numbers(p, q)
            : pn               ? -1
            : qn               ? 1
            : p.compare(q) < 0 ? -1
            : p.compare(q) > 0 ? 1
                               : 0;
    if (c != 0) {
      return c;
    }
  }
  return x->pre.size() == y->pre.size() ? 0 : x->pre.size() < y->pre.size() ? -1 : 1;
}

}  // namespace myelin::runtime
