// Logging inside an app host: spdlog records of the app (and of its host) go
// to myelin-boot's syslog socket as datagrams with ident `app/<name>`, so
// they reach the ring tagged with the app's name.
#pragma once

#include <string>

namespace myelin::runtime {

/// Makes spdlog's default logger (and `supervisor`) of this process send to
/// the socket named by $MYELIN_LOG_SOCKET, as `<PRI>app/<app>[pid]: text`.
/// Without the variable, or while the socket cannot be reached (the log
/// service restarting), lines go to stderr instead, never nowhere. Sends do
/// not block the app: when the socket's queue stays full for 100 ms the line
/// is dropped and counted, and the next line that gets through reports how
/// many were dropped.
void start_app_logging(const std::string& app);

}  // namespace myelin::runtime
