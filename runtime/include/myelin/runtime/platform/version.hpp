// The version of myelin and of its application SDK/ABI.
#pragma once

#include <string>

namespace myelin::runtime {

/// The release version, e.g. "0.1.0".
std::string version();

}  // namespace myelin::runtime
