// Thread names, for `ps -L`, `top -H`, gdb and /proc/<pid>/task/*/comm: on a
// device, which service a busy or stuck thread belongs to.
#pragma once

namespace myelin::runtime {

/// Names the calling thread; Linux keeps at most 15 characters (the rest is
/// cut). Never fails loudly: a name is a diagnostic, not a function.
void name_this_thread(const char* name);

}  // namespace myelin::runtime
