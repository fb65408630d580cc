// Thread names (see thread_name.hpp).
#include "myelin/runtime/platform/thread_name.hpp"

#include <sys/prctl.h>

#include <cstring>

namespace myelin::runtime {

void name_this_thread(const char* name) {
  char buf[16];
  std::strncpy(buf, name, sizeof(buf) - 1);
  buf[sizeof(buf) - 1] = '\0';
  ::prctl(PR_SET_NAME, buf, 0, 0, 0);
}

}  // namespace myelin::runtime
