// Tests of runtime/src/firmware/tar_stream.cpp: the streaming tar reader on
// archives written by GNU tar and libarchive, on our own headers, and on
// damaged and hostile headers.
#include "myelin/runtime/firmware/tar_stream.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

using namespace std::string_literals;

#include <gtest/gtest.h>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::fix_tar_checksum;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

struct read_member {
  tar_member header;
  std::string data;
};

struct read_result {
  tar_status status = tar_status::ok;
  std::string message;
  std::vector<read_member> members;
};

/// Reads all of `tar`, handed over in pieces of `chunk` bytes.
read_result read_all(const std::string& tar, size_t chunk = 4096) {
  size_t pos = 0;
  tar_reader reader{[&](tar_reader::chunk& out) {
    auto n = std::min(chunk, tar.size() - pos);
    out.data = std::string_view{tar}.substr(pos, n);
    pos += n;
    return true;
  }};
  read_result r;
  while (true) {
    tar_member m;
    r.status = reader.next(m);
    if (r.status != tar_status::ok) {
      break;
    }
    read_member rm{m, {}};
    tar_status st = tar_status::ok;
    while (true) {
      std::string_view piece;
      const std::shared_ptr<const void>* keep = nullptr;
      st = reader.data(piece, keep);
      if (st != tar_status::ok) {
        break;
      }
      rm.data.append(piece);
    }
    r.members.push_back(std::move(rm));
    if (st != tar_status::end) {
      r.status = st;
      break;
    }
  }
  r.message = reader.message();
  return r;
}

/// Our headers around `data`, as a whole archive of one member.
std::string one_member(const std::string& name, const std::string& data) {
  return tar_file_header(name, data.size()) + data + std::string(tar_padding(data.size()), '\0') +
         tar_end();
}

int run(const std::string& cmd) {
  return std::system(cmd.c_str());
}

}  // namespace

// Our own headers read back, in any chunking, including one byte at a time.
TEST(tar_stream, own_headers_read_back_in_any_chunking) {
  std::string a(1000, 'a');
  std::string b = "short";
  std::string tar = tar_file_header("manifest", a.size()) + a +
                    std::string(tar_padding(a.size()), '\0') + tar_file_header("x.img", b.size()) +
                    b + std::string(tar_padding(b.size()), '\0') + tar_end();
  for (size_t chunk : {1, 7, 511, 512, 513, 4096}) {
    auto r = read_all(tar, chunk);
    ASSERT_EQ(r.status, tar_status::end) << chunk << ": " << r.message;
    ASSERT_EQ(r.members.size(), 2U);
    EXPECT_EQ(r.members[0].header.name, "manifest");
    EXPECT_EQ(r.members[0].header.type, '0');
    EXPECT_EQ(r.members[0].data, a);
    EXPECT_EQ(r.members[1].header.name, "x.img");
    EXPECT_EQ(r.members[1].data, b);
  }
}

// GNU tar lists and extracts what we write, long (pax) names included.
TEST(tar_stream, gnu_tar_reads_our_archives) {
  temp_dir dir;
  std::string long_name(150, 'n');
  write_file(dir / "ours.tar", one_member(long_name, "contents\n"));
  ASSERT_EQ(run("cd '" + dir.path().string() + "' && tar -xf ours.tar"), 0);
  EXPECT_EQ(read_file(dir / long_name), "contents\n");
}

// Archives GNU tar writes in its pax, ustar and gnu formats read correctly.
TEST(tar_stream, reads_what_gnu_tar_writes) {
  temp_dir dir;
  std::string big(70000, 'b');
  std::string deep = std::string(60, 'd') + "/" + std::string(60, 'e');
  std::filesystem::create_directories(dir / "in" / deep);
  write_file(dir / "in" / "a.txt", "alpha");
  write_file(dir / "in" / "big.bin", big);
  write_file(dir / "in" / deep / "f", "deep");
  for (const char* format : {"pax", "ustar", "gnu"}) {
    auto tarball = (dir / (std::string{format} + ".tar")).string();
    ASSERT_EQ(run("cd '" + (dir / "in").string() + "' && tar --format=" + format + " -cf '" +
                  tarball + "' a.txt big.bin '" + deep + "/f'"),
              0);
    auto r = read_all(read_file(tarball), 1000);
    ASSERT_EQ(r.status, tar_status::end) << format << ": " << r.message;
    ASSERT_EQ(r.members.size(), 3U) << format;
    EXPECT_EQ(r.members[0].header.name, "a.txt");
    EXPECT_EQ(r.members[0].data, "alpha");
    EXPECT_EQ(r.members[1].data, big);
    EXPECT_EQ(r.members[2].header.name, deep + "/f") << format;
    EXPECT_EQ(r.members[2].data, "deep");
  }
}

// Sizes past ustar's 8 GiB: our pax size record and GNU base-256 both read.
TEST(tar_stream, large_sizes_pax_and_base256) {
  uint64_t size = (uint64_t{1} << 33) + 5;
  auto r = read_all(tar_file_header("huge.img", size) + std::string(512, 'x'));
  ASSERT_EQ(r.members.size(), 1U) << r.message;
  EXPECT_EQ(r.members[0].header.size, size);
  EXPECT_EQ(r.status, tar_status::truncated);

  std::string h = tar_file_header("b256.img", 0);
  std::string f(12, '\0');
  f[0] = static_cast<char>(0x80);
  for (int i = 0; i < 8; ++i) {
    f[11 - i] = static_cast<char>((size >> (8 * i)) & 0xff);
  }
  h.replace(124, 12, f);
  fix_tar_checksum(h, 0);
  r = read_all(h);
  ASSERT_EQ(r.members.size(), 1U) << r.message;
  EXPECT_EQ(r.members[0].header.size, size);
}

// libarchive's pax writer: links and directories come out typed, with no
// data, so a caller can refuse them by type.
TEST(tar_stream, link_and_directory_types_reported) {
  temp_dir dir;
  auto path = (dir / "x.tar").string();
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open_filename(a, path.c_str());
  auto* e = archive_entry_new();
  archive_entry_set_pathname(e, "link");
  archive_entry_set_filetype(e, AE_IFLNK);
  archive_entry_set_symlink(e, "/etc/passwd");
  archive_write_header(a, e);
  archive_entry_clear(e);
  archive_entry_set_pathname(e, "dir");
  archive_entry_set_filetype(e, AE_IFDIR);
  archive_write_header(a, e);
  archive_entry_free(e);
  archive_write_close(a);
  archive_write_free(a);
  auto r = read_all(read_file(path));
  ASSERT_EQ(r.status, tar_status::end) << r.message;
  ASSERT_EQ(r.members.size(), 2U);
  EXPECT_EQ(r.members[0].header.type, '2');
  EXPECT_TRUE(r.members[0].header.has_link);
  EXPECT_EQ(r.members[1].header.type, '5');
  EXPECT_EQ(r.members[1].header.name, "dir/");
}

// Damaged and hostile headers are refused with a reason, never read past.
TEST(tar_stream, hostile_headers_refused) {
  auto good = one_member("manifest", "data");
  struct bad_case {
    std::string name;
    std::string tar;
    tar_status want;
  };
  std::vector<bad_case> cases;
  {
    auto t = good;
    t[0] = 'M';  // checksum now wrong
    cases.push_back({"checksum", t, tar_status::malformed});
  }
  {
    auto t = good;
    t.replace(257, 6, "xstar ");
    fix_tar_checksum(t, 0);
    cases.push_back({"no magic", t, tar_status::malformed});
  }
  {
    auto t = good;
    t.replace(124, 12, "12x45678901\0"s);
    fix_tar_checksum(t, 0);
    cases.push_back({"size not octal", t, tar_status::malformed});
  }
  {
    auto t = good;
    t[124] = static_cast<char>(0xff);  // negative base-256
    fix_tar_checksum(t, 0);
    cases.push_back({"negative size", t, tar_status::malformed});
  }
  auto pax = [](const std::string& records) {
    std::string t = tar_file_header("PaxHeader/x", records.size());
    t[156] = 'x';
    fix_tar_checksum(t, 0);
    return t + records + std::string(tar_padding(records.size()), '\0') +
           one_member("manifest", "data");
  };
  cases.push_back({"pax length past end", pax("99 path=x\n"), tar_status::malformed});
  cases.push_back({"pax length zero", pax("0 path=x\n"), tar_status::malformed});
  cases.push_back({"pax no newline", pax("11 path=abc"), tar_status::malformed});
  cases.push_back({"pax no key", pax("8 =value\n"), tar_status::malformed});
  cases.push_back({"pax size not decimal", pax("13 size=12ab\n"), tar_status::malformed});
  cases.push_back({"pax size huge", pax("30 size=99999999999999999999\n"), tar_status::malformed});
  {
    std::string t = tar_file_header("PaxHeader/x", tar_reader::max_pax_header + 1);
    t[156] = 'x';
    fix_tar_checksum(t, 0);
    cases.push_back({"pax header too large", t, tar_status::malformed});
  }
  {
    std::string records = "11 path=ab\n";
    std::string t = tar_file_header("PaxHeader/x", records.size());
    t[156] = 'x';
    fix_tar_checksum(t, 0);
    cases.push_back({"pax then end",
                     t + records + std::string(tar_padding(records.size()), '\0') + tar_end(),
                     tar_status::malformed});
  }
  cases.push_back({"half a header", good.substr(0, 300), tar_status::truncated});
  cases.push_back({"data cut", good.substr(0, 514), tar_status::truncated});
  std::string random(4096, '\0');
  std::mt19937 gen{7};
  for (auto& c : random) {
    c = static_cast<char>(gen());
  }
  cases.push_back({"random bytes", random, tar_status::malformed});
  for (const auto& c : cases) {
    auto r = read_all(c.tar);
    EXPECT_EQ(r.status, c.want) << c.name << ": " << r.message;
    if (c.want != tar_status::end) {
      EXPECT_FALSE(r.message.empty()) << c.name;
    }
  }
}

// A pax 'size' record wins over the ustar field, 'path' over the name, and
// GNU sparse keys mark the member sparse.
TEST(tar_stream, pax_records_applied) {
  std::string records =
      "16 path=renamed\n"
      "10 size=3\n"
      "22 GNU.sparse.major=1\n";
  std::string t = tar_file_header("PaxHeader/x", records.size());
  t[156] = 'x';
  fix_tar_checksum(t, 0);
  t += records + std::string(tar_padding(records.size()), '\0');
  t += tar_file_header("original", 100) + "abc" + std::string(509, '\0') + tar_end();
  auto r = read_all(t);
  ASSERT_EQ(r.status, tar_status::end) << r.message;
  ASSERT_EQ(r.members.size(), 1U);
  EXPECT_EQ(r.members[0].header.name, "renamed");
  EXPECT_EQ(r.members[0].header.size, 3U);
  EXPECT_EQ(r.members[0].data, "abc");
  EXPECT_TRUE(r.members[0].header.sparse);
}

// The source's chunk is lent through with the data pieces, and given back
// (dropped) before the next one is asked for.
TEST(tar_stream, chunks_lent_through_and_released) {
  auto tar = one_member("rootfs.img", std::string(3000, 'r'));
  size_t pos = 0;
  std::weak_ptr<const void> last;
  bool released_before_next = true;
  tar_reader reader{[&](tar_reader::chunk& out) {
    released_before_next = released_before_next && last.expired();
    auto n = std::min<size_t>(1024, tar.size() - pos);
    out.data = std::string_view{tar}.substr(pos, n);
    auto keep = std::make_shared<int>(0);
    last = keep;
    out.keep = keep;
    pos += n;
    return true;
  }};
  tar_member m;
  ASSERT_EQ(reader.next(m), tar_status::ok);
  size_t lent = 0;
  while (true) {
    std::string_view piece;
    const std::shared_ptr<const void>* keep = nullptr;
    auto st = reader.data(piece, keep);
    if (st == tar_status::end) {
      break;
    }
    ASSERT_EQ(st, tar_status::ok);
    ASSERT_NE(keep, nullptr);
    lent += piece.size();
  }
  EXPECT_EQ(lent, 3000U);
  EXPECT_EQ(reader.next(m), tar_status::end);
  EXPECT_TRUE(released_before_next);
}

// A failing source ends reading with source_failed, and is not asked again.
TEST(tar_stream, source_failure_reported_once) {
  int calls = 0;
  tar_reader reader{[&](tar_reader::chunk&) {
    ++calls;
    return false;
  }};
  tar_member m;
  EXPECT_EQ(reader.next(m), tar_status::source_failed);
  EXPECT_EQ(reader.next(m), tar_status::source_failed);
  EXPECT_EQ(calls, 1);
}
