// Structured supervisor reports (OTP's supervisor reports) through spdlog.
#pragma once

#include <memory>
#include <string>

#include <caf/actor.hpp>

#include "myelin/supervisors/supervisor.hpp"

namespace spdlog {
class logger;
}  // namespace spdlog

namespace myelin::supervisors::detail {

/// What a report is about (OTP's report contexts).
enum class report_context : uint8_t {
  /// A start function failed (init, restart, start_child, restart_child).
  start_error,
  /// A child exited abnormally by itself.
  child_terminated,
  /// A child stopped by the supervisor exited with an unexpected reason.
  shutdown_error,
  /// The supervisor exceeded its restart intensity and shuts down.
  shutdown,
};

/// Returns the logger "supervisor", creating it (stderr, colour) if needed.
std::shared_ptr<spdlog::logger> report_logger();

/// Whether reports are logged at all (error level enabled); lets callers skip
/// rendering the reason.
bool reporting(const spdlog::logger& log);

/// Logs one report at error level; costs nothing when that level is off.
/// `offender` may be null (then the line names no offender).
void report(spdlog::logger& log, const std::string& supervisor, report_context context,
            const std::string& reason, const child_spec* offender, const caf::actor& handle);

}  // namespace myelin::supervisors::detail
