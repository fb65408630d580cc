// The control channel's listening server and the thread that runs its
// accept loop, started and stopped exactly once.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <httplib.h>

#include "myelin/runtime/platform/guarded_thread.hpp"

namespace myelin::actors {

struct http_endpoint : std::enable_shared_from_this<http_endpoint> {
  std::unique_ptr<httplib::Server> server;
  std::string url;

  /// Runs the accept loop on a thread named `name`. Its ending while nobody
  /// stops it (accept failed) goes to `on_failure`, like an exception: a
  /// dead listener is a service failure its supervisor sees. Called once.
  void start(const char* name, runtime::thread_failure_fn on_failure);

  /// Stops the loop and joins the thread (also right after start(), before
  /// the loop has begun). Idempotent.
  void stop();

 private:
  /// Stops the loop if it runs (httplib's stop() only once); whether stopped.
  bool stop_listening();

  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> done_{false};
  std::mutex stop_mtx_;
  bool server_stopped_ = false;
};

}  // namespace myelin::actors
