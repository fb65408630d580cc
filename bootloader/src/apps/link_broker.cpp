// The boot side's framing of the app-host link on a CAF broker (link.hpp):
// kept apart from link.cpp so that myelin-apphost, which has no broker, does
// not pull in libcaf_io.
#include <sys/socket.h>

#include <caf/io/broker.hpp>
#include <caf/io/receive_policy.hpp>
#include <caf/sec.hpp>

#include "link/link.hpp"

namespace myelin::bootloader::link {

void frame_reader::start(caf::io::broker* self, caf::io::connection_handle hdl) {
  in_header_ = true;
  self->configure_read(hdl, caf::io::receive_policy::exactly(4));
}

caf::expected<std::optional<std::vector<char>>> frame_reader::feed(caf::io::broker* self,
                                                                   caf::io::connection_handle hdl,
                                                                   std::vector<char>& buf) {
  if (in_header_) {
    auto size = payload_size(buf.data());
    if (size == 0 || size > max_payload) {
      return caf::make_error(caf::sec::invalid_argument,
                             "link frame of " + std::to_string(size) + " bytes refused");
    }
    in_header_ = false;
    self->configure_read(hdl, caf::io::receive_policy::exactly(size));
    return std::optional<std::vector<char>>{};
  }
  in_header_ = true;
  self->configure_read(hdl, caf::io::receive_policy::exactly(4));
  return std::optional<std::vector<char>>{std::move(buf)};
}

bool send(caf::io::broker* self, caf::io::connection_handle hdl, const caf::message& msg) {
  auto frame = encode(self->system(), msg);
  if (!frame) {
    return false;
  }
  self->write(hdl, frame->size(), frame->data());
  self->flush(hdl);
  return true;
}

void frame_writer::start(caf::io::broker* self, caf::io::connection_handle hdl, int fd) {
  hdl_ = hdl;
  fd_ = fd;
  self->ack_writes(hdl, true);
}

bool frame_writer::send(caf::io::broker* self, const caf::message& msg) {
  auto frame = encode(self->system(), msg);
  if (!frame) {
    return false;
  }
  size_t done = 0;
  if (queued_ == 0) {
    // The broker runs on the multiplexer thread, the only one that writes
    // this socket; with nothing queued in the scribe, order is kept.
    auto n = ::send(fd_, frame->data(), frame->size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    done = n > 0 ? static_cast<size_t>(n) : 0;
  }
  if (done < frame->size()) {
    // A full socket (or an error the scribe will report when it writes).
    self->write(hdl_, frame->size() - done, frame->data() + done);
    self->flush(hdl_);
    queued_ += frame->size() - done;
  }
  return true;
}

void frame_writer::transferred(const caf::io::data_transferred_msg& msg) {
  if (msg.handle == hdl_) {
    queued_ = msg.remaining;
  }
}

}  // namespace myelin::bootloader::link
