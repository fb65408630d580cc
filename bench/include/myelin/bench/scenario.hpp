// The scenario registry of myelin-bench: each scenario prints RESULT lines.
#pragma once

#include <functional>
#include <string>
#include <vector>

namespace myelin::bench {

/// One benchmark scenario. `run` prints one `RESULT <name> <value> <unit>` line
/// per figure (use `result`) and returns a process exit code (0 = success).
struct scenario {
  std::string name;
  std::string description;
  std::function<int(const std::vector<std::string>& args)> run;
};

/// Adds a scenario; used through MYELIN_BENCH_SCENARIO at namespace scope.
bool register_scenario(scenario s);

/// All registered scenarios, sorted by name.
std::vector<scenario> scenarios();

/// Prints `RESULT <name> <value> <unit>` on stdout and flushes it.
void result(const std::string& name, double value, const std::string& unit);

/// The p-th percentile (0..100) of `samples` (sorted in place).
double percentile(std::vector<double>& samples, double p);

}  // namespace myelin::bench

#define MYELIN_BENCH_CONCAT_(a, b) a##b
#define MYELIN_BENCH_CONCAT(a, b) MYELIN_BENCH_CONCAT_(a, b)

/// Registers a scenario: MYELIN_BENCH_SCENARIO("name", "what it measures", fn).
#define MYELIN_BENCH_SCENARIO(name, description, fn)                          \
  static const bool MYELIN_BENCH_CONCAT(myelin_bench_registered_, __LINE__) = \
      ::myelin::bench::register_scenario({name, description, fn})
