// Structured supervisor reports through spdlog (logger "supervisor").
#include "report.hpp"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <caf/deep_to_string.hpp>

namespace myelin::supervisors::detail {

namespace {

const char* to_cstr(report_context x) {
  switch (x) {
    case report_context::start_error:
      return "start_error";
    case report_context::child_terminated:
      return "child_terminated";
    case report_context::shutdown_error:
      return "shutdown_error";
    case report_context::shutdown:
      return "shutdown";
  }
  return "unknown";
}

const char* to_cstr(restart_type x) {
  switch (x) {
    case restart_type::permanent:
      return "permanent";
    case restart_type::transient:
      return "transient";
    case restart_type::temporary:
      return "temporary";
  }
  return "unknown";
}

std::string shutdown_text(const shutdown_spec& x) {
  switch (x.how) {
    case shutdown_spec::kind::brutal_kill:
      return "brutal_kill";
    case shutdown_spec::kind::infinity:
      return "infinity";
    case shutdown_spec::kind::timeout:
      break;
  }
  return std::to_string(x.timeout.count()) + "ms";
}

}  // namespace

std::shared_ptr<spdlog::logger> report_logger() {
  if (auto log = spdlog::get("supervisor")) {
    return log;
  }
  try {
    return spdlog::stderr_color_mt("supervisor");
  } catch (const spdlog::spdlog_ex&) {
    // Another thread created it between get and create.
    return spdlog::get("supervisor");
  }
}

bool reporting(const spdlog::logger& log) {
  return log.should_log(spdlog::level::err);
}

void report(spdlog::logger& log, const std::string& supervisor, report_context context,
            const std::string& reason, const child_spec* offender, const caf::actor& handle) {
  if (!log.should_log(spdlog::level::err)) {
    return;
  }
  if (offender == nullptr) {
    log.error("supervisor report: supervisor={} context={} reason={}", supervisor, to_cstr(context),
              reason);
    return;
  }
  log.error(
      "supervisor report: supervisor={} context={} reason={} offender=[id={}, handle={}, "
      "restart={}, shutdown={}, type={}]",
      supervisor, to_cstr(context), reason, offender->id,
      handle ? std::to_string(handle.id()) : std::string{"undefined"}, to_cstr(offender->restart),
      shutdown_text(effective_shutdown(*offender)),
      offender->type == child_type::worker ? "worker" : "supervisor");
}

}  // namespace myelin::supervisors::detail
