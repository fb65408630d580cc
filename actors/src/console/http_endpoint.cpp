// The control channel's accept loop (see http_endpoint.hpp).
#include "console/http_endpoint.hpp"

#include <chrono>
#include <stdexcept>

#include "log/console_logs.hpp"

namespace myelin::actors {

bool http_endpoint::stop_listening() {
  std::lock_guard<std::mutex> lock{stop_mtx_};
  if (!server_stopped_ && server->is_running()) {
    server->stop();
    server_stopped_ = true;
  }
  return server_stopped_;
}

void http_endpoint::start(const char* name, runtime::thread_failure_fn on_failure) {
  auto self = shared_from_this();
  thread_ = std::thread([self, name, on_failure = std::move(on_failure)] {
    runtime::run_guarded(
        name,
        [&self, name] {
          if (runtime::take_test_fault(name)) {
            // The test fault (decision 0075): the listener stops as if
            // accept() had failed.
            std::thread([self] {
              while (!self->done_ && !self->stop_listening()) {
                std::this_thread::sleep_for(std::chrono::milliseconds{1});
              }
            }).detach();
          }
          // Always: only the listen loop closes the bound socket.
          self->server->listen_after_bind();
          if (!self->stopping_) {
            throw std::runtime_error("the control channel stopped listening");
          }
        },
        on_failure, false);
    self->done_ = true;  // however it ended
  });
}

void http_endpoint::stop() {
  stopping_ = true;
  stop_log_routes(*server);
  // httplib's stop() does nothing before its loop has begun, and the bound
  // socket would stay open (SO_REUSEPORT: the next instance would share the
  // port with a socket nobody accepts on): wait for the loop, then stop it.
  // Not a route waiting for state: lint.console_routes_do_not_poll does not
  // look here.
  while (thread_.joinable() && !done_ && !stop_listening()) {
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace myelin::actors
