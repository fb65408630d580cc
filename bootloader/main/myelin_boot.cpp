// myelin-boot: the main process of a myelin device (see myelin/bootloader/boot.hpp).
#include "myelin/bootloader/boot.hpp"

int main(int argc, char** argv) {
  return myelin::bootloader::boot_main(argc, argv);
}
