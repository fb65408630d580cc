// Memory of processes from /proc/<pid>/smaps_rollup.
#include "myelin/runtime/platform/process_memory.hpp"

#include <dirent.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

namespace myelin::runtime {

process_memory memory_of(pid_t pid) {
  process_memory out;
  std::ifstream in{"/proc/" + std::to_string(pid) + "/smaps_rollup"};
  std::string line;
  while (std::getline(in, line)) {
    // "Rss:            1234 kB"
    auto take = [&line](const char* field, int64_t& into) {
      auto n = std::strlen(field);
      if (line.compare(0, n, field) == 0) {
        into = std::strtoll(line.c_str() + n, nullptr, 10);
      }
    };
    take("Rss:", out.rss_kb);
    take("Pss:", out.pss_kb);
  }
  return out;
}

std::vector<pid_t> children_of(pid_t pid) {
  std::vector<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) {
    return out;
  }
  while (auto* e = ::readdir(d)) {
    char* end = nullptr;
    long child = std::strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0') {
      continue;
    }
    std::ifstream stat{"/proc/" + std::string{e->d_name} + "/stat"};
    std::string text;
    std::getline(stat, text);
    // pid (comm) state ppid ...: comm may hold spaces and parentheses.
    auto close = text.rfind(')');
    if (close == std::string::npos || close + 4 > text.size()) {
      continue;
    }
    if (std::strtol(text.c_str() + close + 4, nullptr, 10) == pid) {
      out.push_back(static_cast<pid_t>(child));
    }
  }
  ::closedir(d);
  return out;
}

children_memory memory_of_children(pid_t parent) {
  children_memory out;
  out.sum.rss_kb = 0;
  out.sum.pss_kb = 0;
  for (auto child : children_of(parent)) {
    auto m = memory_of(child);
    if (m.pss_kb < 0) {
      continue;
    }
    out.sum.rss_kb += m.rss_kb;
    out.sum.pss_kb += m.pss_kb;
    ++out.count;
  }
  return out;
}

}  // namespace myelin::runtime
