// myelin-apphost: runs one application module (see myelin/bootloader/apphost.hpp).
#include "myelin/bootloader/apphost.hpp"

int main(int argc, char** argv) {
  return myelin::bootloader::apphost_main(argc, argv);
}
