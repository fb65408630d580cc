// myelin: the command-line tool that talks to a device (see myelin/tools/cli.hpp).
#include "myelin/tools/cli.hpp"

int main(int argc, char** argv) {
  return myelin::tools::run_cli(argc, argv);
}
