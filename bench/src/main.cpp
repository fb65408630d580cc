// myelin-bench: runs benchmark scenarios that print `RESULT <name> <value> <unit>`.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>

#include "myelin/bench/scenario.hpp"

namespace myelin::bench {

namespace {

std::map<std::string, scenario>& registry() {
  static std::map<std::string, scenario> instance;
  return instance;
}

void usage(std::ostream& out) {
  out << "usage: myelin-bench --list | all | <scenario> [args...]\n"
         "Prints one line `RESULT <name> <value> <unit>` per figure.\n";
}

}  // namespace

bool register_scenario(scenario s) {
  auto name = s.name;
  return registry().emplace(std::move(name), std::move(s)).second;
}

std::vector<scenario> scenarios() {
  std::vector<scenario> out;
  for (auto& [name, s] : registry()) {
    out.push_back(s);
  }
  return out;
}

void result(const std::string& name, double value, const std::string& unit) {
  if (std::floor(value) == value && std::fabs(value) < 1e15) {
    std::printf("RESULT %s %.0f %s\n", name.c_str(), value, unit.c_str());
  } else {
    std::printf("RESULT %s %.3f %s\n", name.c_str(), value, unit.c_str());
  }
  std::fflush(stdout);
}

double percentile(std::vector<double>& samples, double p) {
  if (samples.empty()) {
    return 0.0;
  }
  std::sort(samples.begin(), samples.end());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples.size())));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

}  // namespace myelin::bench

int main(int argc, char** argv) {
  using namespace myelin::bench;
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help") {
    usage(args.empty() ? std::cerr : std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--list") {
    for (const auto& s : scenarios()) {
      std::cout << s.name << "\t" << s.description << "\n";
    }
    return 0;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "all") {
    int rc = 0;
    for (const auto& s : scenarios()) {
      std::cout << "== " << s.name << ": " << s.description << std::endl;
      if (int r = s.run(rest); r != 0) {
        std::cerr << "myelin-bench: scenario '" << s.name << "' failed (exit " << r << ")\n";
        rc = 1;
      }
    }
    return rc;
  }
  for (const auto& s : scenarios()) {
    if (s.name == args[0]) {
      return s.run(rest);
    }
  }
  std::cerr << "myelin-bench: unknown scenario '" << args[0] << "' (see myelin-bench --list)\n";
  return 2;
}
