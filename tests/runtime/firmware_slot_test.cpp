// Tests of runtime/src/firmware_slot.cpp: writing an image into a file slot.
#include "myelin/runtime/firmware_slot.hpp"

#include <gtest/gtest.h>

#include "myelin/runtime/firmware_manifest.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

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
// straddle the window edges, arrives byte for byte.
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
