// The version of myelin, from the CMake project version.
#include "myelin/runtime/platform/version.hpp"

namespace myelin::runtime {

std::string version() {
  return MYELIN_VERSION;
}

}  // namespace myelin::runtime
