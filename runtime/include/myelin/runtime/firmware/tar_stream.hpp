// Reading a POSIX tar archive (ustar, pax) front to back as it streams in, and
// writing the headers of one: what `.fw` firmware files are made of
// (docs/reference/firmware-format.md, decisions 0060 and 0081).
//
// The reader understands exactly what a firmware file may hold and refuses
// the rest with a reason: 512-byte ustar headers (POSIX "ustar\0" "00" or GNU
// "ustar  \0") with verified checksums, octal or base-256 sizes, the ustar
// name prefix, pax extended headers (`x`: `path`, `size`, `linkpath` honoured,
// `GNU.sparse.*` marks a sparse member, other keys ignored; `g` parsed and
// ignored), GNU long names and link targets (`L`, `K`) and the end-of-archive
// block. Member data is handed out straight
// from the source's chunks, never copied. It needs nothing but the C++
// library, so the device needs no libarchive (and the fuzzer links it alone).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace myelin::runtime {

/// What a tar_reader call found.
enum class tar_status {
  /// A header or a piece of data was read.
  ok,
  /// The end of the archive (the end block, or the source's end at a header
  /// boundary); from next(): no more members. From data(): the member's data
  /// is complete (the piece is empty).
  end,
  /// The source ended inside a header, a pax record or a member's data.
  truncated,
  /// Not a tar archive, or a damaged one (message() says how).
  malformed,
  /// The source reported an error (the caller holds it).
  source_failed,
};

/// One member's header, after its pax extended header is applied.
struct tar_member {
  std::string name;
  /// The ustar type flag: '0' (also for '\0' and '7') a regular file, '1' a
  /// hard link, '2' a symbolic link, '5' a directory, ...
  char type = '0';
  uint64_t size = 0;
  /// Whether it names a link target (linkname or pax linkpath).
  bool has_link = false;
  /// Whether a pax header describes it as a GNU sparse file.
  bool sparse = false;
};

/// A pull reader of a tar stream. Not thread-safe: one owner.
class tar_reader {
 public:
  /// A piece of the archive from the source; its bytes stay valid as long as
  /// `keep` or a copy of it lives, or (without `keep`) until the next pull.
  /// An empty `data` is the end of the stream.
  struct chunk {
    std::string_view data;
    std::shared_ptr<const void> keep;
  };

  /// Fills the next chunk; false when the source failed (the reader then
  /// answers source_failed and never calls it again).
  using source = std::function<bool(chunk&)>;

  /// A pax extended header or GNU long name larger than this is refused as
  /// malformed.
  static constexpr size_t max_pax_header = 64 * 1024;

  explicit tar_reader(source src);

  /// Skips what is left of the current member's data and reads the next
  /// member's header into `out` (ok), or finds the end (end).
  tar_status next(tar_member& out);

  /// The next piece of the current member's data, straight from the source's
  /// chunk: `piece` is valid until the next call, and longer if `keep` is set
  /// (then the chunk's owner keeps it alive while a copy of `*keep` lives).
  /// end with an empty piece once the member's data is complete.
  tar_status data(std::string_view& piece, const std::shared_ptr<const void>*& keep);

  /// Why the last call returned truncated or malformed.
  const std::string& message() const { return message_; }

 private:
  bool fill();
  tar_status read_exact(char* out, size_t n);
  tar_status skip(uint64_t n);
  tar_status fail(tar_status status, std::string message);
  tar_status apply_pax(std::string_view records, tar_member& m, bool global);

  source source_;
  chunk current_;
  size_t pos_ = 0;
  bool eof_ = false;
  bool failed_ = false;
  uint64_t remaining_ = 0;
  uint64_t padding_ = 0;
  std::string message_;
};

/// The header block(s) of a regular file `name` of `size` bytes, mode 0644,
/// owner 0:0 and mtime 0 (the same inputs give the same bytes): one ustar
/// block, preceded by a pax extended header when the name is longer than 100
/// bytes or the size does not fit ustar's 11 octal digits.
std::string tar_file_header(std::string_view name, uint64_t size);

/// The zero bytes that pad a member of `size` bytes to a whole block.
size_t tar_padding(uint64_t size);

/// The end-of-archive marker: two zero blocks.
std::string tar_end();

}  // namespace myelin::runtime
