// myelin-apphost: runs one application module in its own process. Not built yet:
// the app supervisor and module loader arrive with the bootloader capability.
#include <cstring>
#include <iostream>

#include "myelin/runtime/version.hpp"

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "myelin-apphost " << myelin::runtime::version() << "\n";
    return 0;
  }
  std::cerr << "myelin-apphost: application hosting is not implemented yet; "
               "myelin-boot does not start app hosts in this version\n";
  return 3;
}
