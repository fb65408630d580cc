// A module that claims another SDK ABI: myelin-apphost must refuse it.
#include "myelin/app.hpp"

extern "C" __attribute__((visibility("default"))) const myelin::app::module_info*
myelin_app_module_info() {
  static const myelin::app::module_info info{999, myelin::app::abi::caf,
                                             myelin::app::abi::cxx11_abi,
                                             myelin::app::abi::gcc_major, nullptr};
  return &info;
}
