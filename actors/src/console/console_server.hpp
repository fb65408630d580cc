// The control channel's plain-HTTP server: cpp-httplib with a connection
// stream that reads the socket in large pieces (private to the console).
//
// Debian's cpp-httplib 0.11 is a shared library with CPPHTTPLIB_RECV_BUFSIZ
// compiled in: its own socket stream reads a request body with one poll(2)
// and one 4 KiB recv(2) per 4 KiB, about 131,000 system calls for a 256 MiB
// firmware upload. This server keeps cpp-httplib's request parsing, routing
// and response writing (Server::process_request) and serves each connection
// from its own stream, which receives up to 1 MiB per recv(2) into a buffer
// that lives as long as the connection (decision 0064). TLS connections keep
// cpp-httplib's SSL stream.
#pragma once

#include <functional>
#include <memory>

#include "myelin/actors/firmware_upload.hpp"

namespace httplib {
class Server;
struct Request;
}  // namespace httplib

namespace myelin::actors {

/// A cpp-httplib server for plain HTTP whose connections read in large pieces.
/// `same_user_only`: a client on this machine that runs as neither root nor
/// myelin-boot's user (an app host with a user of its own) is answered 403
/// before anything of its request is read (decision 0079).
std::unique_ptr<httplib::Server> make_plain_server(bool same_user_only = true);

/// Runs a connection's task of a make_plain_server() on this thread such that
/// it only answers 503 and closes the connection (the server is full).
void run_overloaded(const std::function<void()>& task);

/// The body of the request this thread is handling, read straight from its
/// connection (Content-Length or chunked framing; a malformed one is an
/// error of the source). For content-reader routes that have not used their
/// ContentReader. Empty when the request did not come through
/// make_plain_server() (TLS): use the ContentReader then.
body_source direct_body_source(const httplib::Request& req);

}  // namespace myelin::actors
