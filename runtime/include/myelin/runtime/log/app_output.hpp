// What app hosts write to stdout/stderr: passed through to myelin-boot's
// stderr, and the last lines of each app kept for the host (a push that rolls
// back reports them). A stand-in until a log ring exists.
#pragma once

#include <string>
#include <vector>

namespace myelin::runtime::app_output {

/// How many lines are kept per app.
inline constexpr size_t kept_lines = 40;

/// A pipe drained by a thread of this process: each line goes to our stderr
/// and into `app`'s last lines. Returns the write end (close-on-exec: dup2 it
/// onto the child's stdout and stderr, close it in the parent after fork), or
/// -1 if no pipe could be made (the child then keeps our stderr).
int capture(const std::string& app);

/// The last lines `app`'s hosts wrote, oldest first.
std::vector<std::string> last_lines(const std::string& app);

}  // namespace myelin::runtime::app_output
