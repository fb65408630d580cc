// The link between myelin-boot and one myelin-apphost: a connected unix
// socket (socketpair made by myelin-boot) adopted by a CAF broker on each side.
//
// Frames: a 4-byte little-endian payload size, then the payload, a caf::message
// serialized with caf::binary_serializer. Messages (atoms defined below):
//   apphost -> boot  (hello_atom, std::string module, std::string start)
//                     module loaded, tree started by `start` ("start" or "start_host")
//   apphost -> boot  (failed_atom, std::string reason)         module refused / start failed
//   boot -> apphost  (ping_atom, uint64_t seq)                 liveness check
//   apphost -> boot  (pong_atom, uint64_t seq)                 answered by the app's scheduler
//   boot -> apphost  (call_atom, uint64_t id, std::string command, std::vector<std::string> args)
//   apphost -> boot  (reply_atom, uint64_t id, bool ok, std::string text)
//   apphost -> boot  (request_atom, uint64_t id, caf::atom_value service, caf::message request)
//   boot -> apphost  (response_atom, uint64_t id, caf::message response)
//   apphost -> boot  (subscribe_atom, uint64_t id, uint64_t tag, caf::atom_value service,
//                     caf::message request)   a (un)subscribe request of the app actor `tag`
//                     (its actor id); answered by a response_atom like a request
//   apphost -> boot  (gone_atom, uint64_t tag)  the app actor `tag` ended: drop its subscriptions
//   boot -> apphost  (event_atom, uint64_t tag, caf::message event)  an event for actor `tag`
// Anything else, an oversized frame or a payload that does not decode within
// decode_limits is a protocol violation: the core kills that app host (its
// supervisor restarts it) and nothing else happens.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/io/system_messages.hpp>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/message.hpp>

namespace myelin::bootloader::link {

using hello_atom = caf::atom_constant<caf::atom("lhello")>;
using failed_atom = caf::atom_constant<caf::atom("lfailed")>;
using ping_atom = caf::atom_constant<caf::atom("lping")>;
using pong_atom = caf::atom_constant<caf::atom("lpong")>;
using call_atom = caf::atom_constant<caf::atom("lcall")>;
using reply_atom = caf::atom_constant<caf::atom("lreply")>;
using request_atom = caf::atom_constant<caf::atom("lrequest")>;
using response_atom = caf::atom_constant<caf::atom("lresponse")>;
using subscribe_atom = caf::atom_constant<caf::atom("lsubscribe")>;
using gone_atom = caf::atom_constant<caf::atom("lgone")>;
using event_atom = caf::atom_constant<caf::atom("levent")>;

/// The largest payload accepted; larger announced sizes close the link.
inline constexpr uint32_t max_payload = 4u << 20;

/// Registers the types that cross the link; both sides call it before
/// creating their actor system.
void register_types(caf::actor_system_config& cfg);

/// Serializes `msg` into a frame (size prefix + payload).
caf::expected<std::vector<char>> encode(caf::actor_system& sys, const caf::message& msg);

/// Reads the payload size from a 4-byte header.
uint32_t payload_size(const char* header);

/// What a payload may hold (decision 0078): the link is a trust boundary, an
/// app host any native code. CAF's deserializer recurses once per nested
/// message and trusts every announced size; these bound it.
struct decode_limits {
  /// Messages inside messages: a request's message is at depth 2, an error
  /// in a response at 3.
  size_t max_depth = 4;
  /// Elements of one list, map or string.
  size_t max_sequence = 1u << 20;
  /// Elements of all sequences of the payload together.
  size_t max_elements = 1u << 21;
};

/// Deserializes a payload with `limits`; only the value types the link
/// carries may appear (no actor handles, node ids or stream messages).
/// Errors (sec::invalid_argument, the reason in the context): malformed
/// payloads, trailing bytes, a limit exceeded, a type that is not allowed.
caf::expected<caf::message> decode(caf::actor_system& sys, const std::vector<char>& payload,
                                   const decode_limits& limits = {});
caf::expected<caf::message> decode(caf::actor_system& sys, const char* data, size_t size,
                                   const decode_limits& limits = {});

/// Reassembles frames from a broker connection. start() once; then feed()
/// each new_data_msg. feed() returns the payload of a complete frame, nullopt
/// while one is incomplete, or an error for an oversized frame.
class frame_reader {
 public:
  void start(caf::io::broker* self, caf::io::connection_handle hdl);
  caf::expected<std::optional<std::vector<char>>> feed(caf::io::broker* self,
                                                       caf::io::connection_handle hdl,
                                                       std::vector<char>& buf);

 private:
  bool in_header_ = true;
};

/// Encodes `msg` and writes it as one frame; false if it cannot be encoded.
bool send(caf::io::broker* self, caf::io::connection_handle hdl, const caf::message& msg);

/// Writes frames on a broker connection with one syscall each: straight to
/// the socket while nothing waits in the scribe's buffer, else (socket full)
/// into the scribe, behind what already waits, until it has drained. Saves
/// the multiplexer's round of write readiness per frame (decision 0007).
/// start() once (it asks for write acknowledgements); give it every
/// data_transferred_msg of the connection.
class frame_writer {
 public:
  void start(caf::io::broker* self, caf::io::connection_handle hdl, int fd);
  bool send(caf::io::broker* self, const caf::message& msg);
  void transferred(const caf::io::data_transferred_msg& msg);
  /// Bytes waiting in the scribe's buffer (the socket was full).
  uint64_t queued() const { return queued_; }

 private:
  caf::io::connection_handle hdl_;
  int fd_ = -1;
  uint64_t queued_ = 0;
};

}  // namespace myelin::bootloader::link
