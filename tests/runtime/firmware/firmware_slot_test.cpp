// Tests of runtime/src/firmware/firmware_slot.cpp: writing an image into a file slot.
#include "myelin/runtime/firmware/firmware_slot.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <new>

#include <gtest/gtest.h>

#include "myelin/runtime/firmware/firmware_manifest.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::read_file;
using myelin::test::reports_direct_io;
using myelin::test::resident_bytes;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

/// Page-aligned memory, like the upload's receive blocks.
struct aligned_buffer {
  static constexpr std::align_val_t alignment{4096};
  char* data;
  explicit aligned_buffer(size_t size)
      : data(static_cast<char*>(::operator new[](size, alignment))) {}
  ~aligned_buffer() { ::operator delete[](data, alignment); }
  aligned_buffer(const aligned_buffer&) = delete;
  aligned_buffer& operator=(const aligned_buffer&) = delete;
};

std::string pattern(size_t size) {
  std::string s(size, '\0');
  for (size_t i = 0; i < s.size(); ++i) {
    s[i] = static_cast<char>((i * 131) ^ (i >> 11));
  }
  return s;
}

// A file slot ends up holding exactly the image, even if it held more before.
TEST(firmware_slot, file_slot_holds_exactly_the_image) {
  temp_dir dir;
  auto path = (dir / "slot.img").string();
  write_file(path, std::string(100, 'o'));
  auto w = firmware_slot_writer::open(path, 10, 1000);
  ASSERT_TRUE(w);
  ASSERT_FALSE(w->write("01234", 5));
  ASSERT_FALSE(w->write("56789", 5));
  ASSERT_FALSE(w->finish());
  EXPECT_EQ(read_file(path), "0123456789");
}

// An image spanning several 8 MiB writeback windows, written in pieces that
// straddle the window edges (from the heap's addresses, mostly not aligned
// for direct I/O), arrives byte for byte.
TEST(firmware_slot, image_across_writeback_windows_intact) {
  temp_dir dir;
  auto path = (dir / "slot.img").string();
  std::string image((27 << 20) + 5, '\0');
  for (size_t i = 0; i < image.size(); ++i) {
    image[i] = static_cast<char>((i * 131) ^ (i >> 11));
  }
  auto w = firmware_slot_writer::open(path, image.size(), image.size());
  ASSERT_TRUE(w);
  constexpr size_t piece = (3 << 20) + 4097;
  for (size_t at = 0; at < image.size(); at += piece) {
    ASSERT_FALSE(w->write(image.data() + at, std::min(piece, image.size() - at)));
  }
  ASSERT_FALSE(w->finish());
  EXPECT_TRUE(read_file(path) == image);
}

// Pieces laid out as an upload delivers them — the image starting 2560 bytes
// into the first 1 MiB receive block, then whole blocks, then an odd end —
// go around the page cache (decision 0071), except what direct I/O cannot
// take; the slot holds the image byte for byte and almost none of it stays
// cached.
TEST(firmware_slot, aligned_pieces_bypass_the_page_cache) {
  temp_dir dir;
  auto path = (dir / "slot.img").string();
  write_file(path, "");
  if (!reports_direct_io(path)) {
    GTEST_SKIP() << "the file system of " << dir.path() << " reports no direct I/O alignment";
  }
  constexpr size_t block = 1 << 20;
  constexpr size_t start = 2560;
  auto image = pattern((24 << 20) - start + 777);
  aligned_buffer stream{start + image.size()};
  std::memcpy(stream.data + start, image.data(), image.size());
  auto w = firmware_slot_writer::open(path, image.size(), image.size());
  ASSERT_TRUE(w);
  for (size_t at = start; at < start + image.size(); at = (at / block + 1) * block) {
    auto end = std::min((at / block + 1) * block, start + image.size());
    ASSERT_FALSE(w->write(stream.data + at, end - at));
  }
  ASSERT_FALSE(w->finish());
  // All but the first block's piece (if memory must be page-aligned) and
  // the last bytes of the image.
  EXPECT_GE(w->written_direct(), image.size() - block - 4096);
  EXPECT_LT(w->written_direct(), image.size());
  EXPECT_LE(resident_bytes(path), size_t{2} << 20);
  EXPECT_TRUE(read_file(path) == image);
}

// Pieces of every alignment, mixed — misaligned memory, offsets and sizes
// between aligned ones, so that direct and page-cache writes meet inside the
// same pages — still make up the image byte for byte.
TEST(firmware_slot, mixed_alignments_intact) {
  temp_dir dir;
  auto path = (dir / "slot.img").string();
  auto image = pattern(9 << 20);
  aligned_buffer source{image.size() + 8192};
  auto w = firmware_slot_writer::open(path, image.size(), image.size());
  ASSERT_TRUE(w);
  const size_t pieces[] = {4096, 1 << 20, 3, 509, 512 * 7 + 5, (1 << 20) - 512, 65536, 1};
  size_t at = 0;
  for (size_t i = 0; at < image.size(); ++i) {
    auto n = std::min(pieces[i % std::size(pieces)], image.size() - at);
    // Every other piece from page-aligned memory, the others from odd addresses.
    char* p = source.data + (i % 2 == 0 ? 0 : 4096 + (i % 7));
    std::memcpy(p, image.data() + at, n);
    ASSERT_FALSE(w->write(p, n));
    at += n;
  }
  ASSERT_FALSE(w->finish());
  EXPECT_TRUE(read_file(path) == image);
}

// A file system that reports no direct-I/O alignment (tmpfs): everything
// goes through the page cache, aligned pieces included, and arrives intact.
TEST(firmware_slot, no_direct_io_through_the_page_cache) {
  std::filesystem::path path{"/dev/shm/myelin-slot-test-" + std::to_string(getpid()) + ".img"};
  write_file(path, "");
  struct remover {
    std::filesystem::path p;
    ~remover() {
      std::error_code ec;
      std::filesystem::remove(p, ec);
    }
  } cleanup{path};
  if (!std::filesystem::exists(path) || reports_direct_io(path)) {
    GTEST_SKIP() << "needs /dev/shm on a file system without direct I/O alignment (tmpfs)";
  }
  auto image = pattern(3 << 20);
  aligned_buffer source{image.size()};
  std::memcpy(source.data, image.data(), image.size());
  auto w = firmware_slot_writer::open(path.string(), image.size(), image.size());
  ASSERT_TRUE(w);
  for (size_t at = 0; at < image.size(); at += 1 << 20) {
    ASSERT_FALSE(w->write(source.data + at, 1 << 20));
  }
  ASSERT_FALSE(w->finish());
  EXPECT_EQ(w->written_direct(), 0u);
  EXPECT_TRUE(read_file(path) == image);
}

// Too large for the slot: refused at open, the slot untouched.
TEST(firmware_slot, oversized_refused_before_writing) {
  temp_dir dir;
  auto path = (dir / "slot.img").string();
  write_file(path, "old");
  auto w = firmware_slot_writer::open(path, 1001, 1000);
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), static_cast<uint8_t>(firmware_file_errc::too_large));
  EXPECT_EQ(read_file(path), "old");
}

// More data than announced, or less at finish, is an error; so is a slot
// that cannot be opened.
TEST(firmware_slot, wrong_amounts_and_unwritable_refused) {
  temp_dir dir;
  auto w = firmware_slot_writer::open((dir / "s").string(), 4, 1000);
  ASSERT_TRUE(w);
  EXPECT_TRUE(w->write("12345", 5));
  ASSERT_FALSE(w->write("12", 2));
  auto err = w->finish();
  ASSERT_TRUE(err);
  EXPECT_EQ(err.code(), static_cast<uint8_t>(firmware_file_errc::truncated));
  auto bad = firmware_slot_writer::open((dir / "missing" / "s").string(), 4, 1000);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), static_cast<uint8_t>(firmware_file_errc::io_error));
  auto dir_slot = firmware_slot_writer::capacity_of(dir.path().string(), 1000);
  EXPECT_FALSE(dir_slot);
}

}  // namespace
