// Who is at the other end of a local TCP connection (issue 18, decision
// 0079): the control channel refuses local clients that are not
// myelin-boot's own user — app hosts among them.
#pragma once

#include <sys/types.h>

#include <optional>

namespace myelin::runtime {

/// The owner of the socket at the other end of the connected TCP socket
/// `fd`, when that socket is on this machine (and in this network
/// namespace); nothing for a remote peer or when the kernel cannot tell
/// (NETLINK_SOCK_DIAG, exact lookup by both addresses and ports).
std::optional<uid_t> local_tcp_peer_uid(int fd);

}  // namespace myelin::runtime
