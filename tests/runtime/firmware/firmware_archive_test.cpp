// Tests of runtime/src/firmware/firmware_archive.cpp: writing .fw files and reading them
// back as a stream, with hostile archives crafted member by member.
#include "myelin/runtime/firmware/firmware_archive.hpp"

#include <archive.h>
#include <archive_entry.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>

#include <gtest/gtest.h>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::fix_tar_checksum;
using myelin::test::read_file;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

/// One member of a crafted archive.
struct member {
  std::string name;
  std::string data;
  unsigned type = AE_IFREG;
};

/// A tar archive (pax) of `members`, as bytes; `gzip` compresses it.
std::string make_tar(const std::vector<member>& members, bool gzip = false) {
  temp_dir dir;
  auto path = (dir / "x.tar").string();
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) {
    archive_write_add_filter_gzip(a);
  }
  archive_write_open_filename(a, path.c_str());
  for (const auto& m : members) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, m.name.c_str());
    archive_entry_set_filetype(e, m.type);
    archive_entry_set_perm(e, 0644);
    if (m.type == AE_IFLNK) {
      archive_entry_set_symlink(e, "/etc/passwd");
    } else {
      archive_entry_set_size(e, static_cast<int64_t>(m.data.size()));
    }
    archive_write_header(a, e);
    if (m.type == AE_IFREG) {
      archive_write_data(a, m.data.data(), m.data.size());
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return read_file(path);
}

/// Rewrites the size field (octal) of member `name`'s ustar header in `tar`,
/// with a correct header checksum. False if the header is not found.
bool set_member_size(std::string& tar, const std::string& name, uint64_t size) {
  for (size_t off = 0; off + 512 <= tar.size(); off += 512) {
    if (tar.compare(off, name.size() + 1, name + std::string(1, '\0')) != 0) {
      continue;
    }
    char field[13];
    std::snprintf(field, sizeof field, "%011llo", static_cast<unsigned long long>(size));
    tar.replace(off + 124, 12, std::string(field, 12));
    fix_tar_checksum(tar, off);
    return true;
  }
  return false;
}

/// A source handing out `data` in pieces of `chunk` bytes.
firmware_source chunks_of(const std::string& data, size_t chunk) {
  auto pos = std::make_shared<size_t>(0);
  return [&data, chunk, pos]() -> caf::expected<std::string_view> {
    auto n = std::min(chunk, data.size() - *pos);
    std::string_view out{data.data() + *pos, n};
    *pos += n;
    return out;
  };
}

struct signed_parts {
  key_pair keys = generate_key_pair();
  std::string rootfs = std::string(100000, 'r');
  std::string extra = "boot script";
  firmware_manifest manifest;
  std::string text;
  std::string sig;

  signed_parts() {
    manifest.product = "demo";
    manifest.version = "1.0";
    manifest.platform = "rpi4";
    manifest.architecture = "aarch64";
    manifest.resources = {{"rootfs.img", rootfs.size(), sha256_hex(rootfs)},
                          {"boot.scr", extra.size(), sha256_hex(extra)}};
    resign();
  }

  void resign() {
    text = *format_firmware_manifest(manifest);
    sig = format_signature(sign(keys.secret, text)) + "\n";
  }

  std::vector<member> members() const {
    return {{"manifest", text}, {"manifest.sig", sig}, {"rootfs.img", rootfs}, {"boot.scr", extra}};
  }

  firmware_read_options options() const {
    firmware_read_options o;
    o.trusted = {keys.pub};
    return o;
  }
};

uint8_t code_of(const caf::error& err) {
  EXPECT_EQ(err.category(), caf::atom("fwfile")) << describe(err);
  return err.code();
}

constexpr auto code = [](firmware_file_errc x) { return static_cast<uint8_t>(x); };

// A well-formed archive reads back in any chunking, with every byte handed on.
TEST(firmware_archive, valid_archive_streams_in_any_chunking) {
  signed_parts p;
  auto tar = make_tar(p.members());
  for (size_t chunk : {size_t{1} << 20, size_t{4096}, size_t{777}, size_t{1}}) {
    std::string got;
    auto opts = p.options();
    int manifests = 0;
    opts.on_manifest = [&](const firmware_manifest&) {
      ++manifests;
      return caf::error{};
    };
    opts.on_data = [&](const firmware_resource& r, const char* d, size_t n) {
      if (r.name == "rootfs.img") {
        got.append(d, n);
      }
      return caf::error{};
    };
    auto r = read_firmware(chunks_of(tar, chunk), opts);
    ASSERT_TRUE(r) << describe(r.error());
    EXPECT_TRUE(r->signature_checked);
    EXPECT_EQ(manifests, 1);
    EXPECT_TRUE(got == p.rootfs) << "chunk " << chunk;
    EXPECT_EQ(r->manifest.version, "1.0");
  }
}

// write_firmware_file + read_firmware_file round trip; info without keys.
TEST(firmware_archive, write_then_read_file) {
  temp_dir dir;
  write_file(dir / "rootfs.img", std::string(3 << 20, 'x'));
  write_file(dir / "boot.scr", "echo hi");
  auto keys = generate_key_pair();
  firmware_contents c;
  c.manifest.product = "demo";
  c.manifest.version = "2";
  c.manifest.platform = "p";
  c.manifest.architecture = "a";
  c.files = {{"rootfs.img", (dir / "rootfs.img").string()},
             {"boot.scr", (dir / "boot.scr").string()}};
  auto out = (dir / "demo.fw").string();
  auto m = write_firmware_file(c, keys.secret, out);
  ASSERT_TRUE(m) << describe(m.error());
  EXPECT_EQ(m->resources[0].size, 3u << 20);
  firmware_read_options opts;
  opts.trusted = {keys.pub};
  auto r = read_firmware_file(out, opts);
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(r->manifest.resources.size(), 2u);
  // A .fw file is a plain tar archive: GNU tar lists it in order, with the
  // fixed mode, owner and time that make the same inputs give the same file.
  auto listing = dir / "listing";
  ASSERT_EQ(
      std::system(("tar --numeric-owner -tvf '" + out + "' >'" + listing.string() + "'").c_str()),
      0);
  auto text = read_file(listing);
  auto manifest_at = text.find(" manifest\n");
  auto sig_at = text.find(" manifest.sig\n");
  auto rootfs_at = text.find(" rootfs.img\n");
  auto boot_at = text.find(" boot.scr\n");
  EXPECT_TRUE(manifest_at < sig_at && sig_at < rootfs_at && rootfs_at < boot_at) << text;
  EXPECT_NE(text.find("-rw-r--r-- 0/0         3145728 1970-01-01 00:00 rootfs.img"),
            std::string::npos)
      << text;
  opts.trusted = {generate_key_pair().pub};
  auto wrong = read_firmware_file(out, opts);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(code_of(wrong.error()), code(firmware_file_errc::bad_signature));
  opts.check_signature = false;
  auto unchecked = read_firmware_file(out, opts);
  ASSERT_TRUE(unchecked);
  EXPECT_FALSE(unchecked->signature_checked);
  // A bad resource name or a missing file: nothing written.
  c.files.emplace_back("../evil", (dir / "boot.scr").string());
  EXPECT_FALSE(write_firmware_file(c, keys.secret, (dir / "bad.fw").string()));
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.fw"));
}

// Cut anywhere, an archive never reads as valid.
TEST(firmware_archive, truncated_anywhere_refused) {
  signed_parts p;
  auto tar = make_tar(p.members());
  // The end-of-archive blocks may be cut without losing data: stop before them.
  auto data_end = tar.size() - 1024;
  std::mt19937 gen{42};
  std::vector<size_t> cuts{0, 1, 511, 512, 513, 1024, 1536, 2048, 2560, data_end - 1};
  for (int i = 0; i < 60; ++i) {
    cuts.push_back(std::uniform_int_distribution<size_t>{0, data_end - 1}(gen));
  }
  for (auto cut : cuts) {
    auto part = tar.substr(0, cut);
    auto r = read_firmware(chunks_of(part, 4096), p.options());
    ASSERT_FALSE(r) << "cut at " << cut;
    auto c = code_of(r.error());
    EXPECT_TRUE(c == code(firmware_file_errc::truncated) ||
                c == code(firmware_file_errc::bad_archive))
        << "cut at " << cut << ": " << describe(r.error());
  }
}

// A source error ends reading with that error.
TEST(firmware_archive, source_error_passed_on) {
  signed_parts p;
  auto tar = make_tar(p.members());
  int calls = 0;
  firmware_source src = [&]() -> caf::expected<std::string_view> {
    if (++calls > 3) {
      return make_error(firmware_file_errc::io_error, "connection lost");
    }
    return std::string_view{tar}.substr(static_cast<size_t>(calls - 1) * 1024, 1024);
  };
  auto r = read_firmware(src, p.options());
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "connection lost");
}

/// A source lending `data` in blocks of `chunk` bytes from a pool: a block
/// is scribbled over the moment its last keep goes, so a reader that used
/// lent bytes after giving them back would hash garbage.
class lending_pool {
 public:
  lending_pool(const std::string& data, size_t chunk) : data_(data), chunk_(chunk) {}

  firmware_lending_source source() {
    return [this]() -> caf::expected<firmware_chunk> {
      auto n = std::min(chunk_, data_.size() - pos_);
      if (n == 0) {
        return firmware_chunk{};
      }
      char* block = take();
      std::memcpy(block, data_.data() + pos_, n);
      pos_ += n;
      ++lent_;
      std::shared_ptr<const void> keep{block, [this](const void* b) { give_back(b); }};
      return firmware_chunk{std::string_view{block, n}, std::move(keep)};
    };
  }

  /// Blocks lent and not given back yet.
  int outstanding() {
    std::lock_guard<std::mutex> lock{mtx_};
    return lent_ - returned_;
  }

 private:
  char* take() {
    std::lock_guard<std::mutex> lock{mtx_};
    if (free_.empty()) {
      blocks_.push_back(std::make_unique<char[]>(chunk_));
      return blocks_.back().get();
    }
    auto* b = free_.back();
    free_.pop_back();
    return b;
  }

  void give_back(const void* b) {
    auto* block = const_cast<char*>(static_cast<const char*>(b));
    std::memset(block, 0x5a, chunk_);
    std::lock_guard<std::mutex> lock{mtx_};
    free_.push_back(block);
    ++returned_;
  }

  const std::string& data_;
  size_t chunk_;
  size_t pos_ = 0;
  std::mutex mtx_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<char*> free_;
  int lent_ = 0;
  int returned_ = 0;
};

// A lending source: a large image is hashed where it lies (no copy), every
// block is given back by the time reading ends, and none is used after that —
// a tampered byte is still found, in any chunking.
TEST(firmware_archive, lent_chunks_hashed_in_place_and_given_back) {
  signed_parts p;
  std::mt19937_64 gen{7};
  p.rootfs.resize(9 << 20);
  for (auto& c : p.rootfs) {
    c = static_cast<char>(gen());
  }
  p.manifest.resources[0] = {"rootfs.img", p.rootfs.size(), sha256_hex(p.rootfs)};
  p.resign();
  auto tar = make_tar(p.members());
  for (size_t chunk : {size_t{1} << 20, size_t{65536}, size_t{4097}}) {
    lending_pool pool{tar, chunk};
    std::string got;
    auto opts = p.options();
    opts.on_data = [&](const firmware_resource& r, const char* d, size_t n) {
      if (r.name == "rootfs.img") {
        got.append(d, n);
      }
      return caf::error{};
    };
    auto r = read_firmware(pool.source(), opts);
    ASSERT_TRUE(r) << "chunk " << chunk << ": " << describe(r.error());
    EXPECT_TRUE(got == p.rootfs) << "chunk " << chunk;
    EXPECT_EQ(pool.outstanding(), 0) << "chunk " << chunk;
  }
  // One byte changed in the middle of the image: the hash says so, and every
  // block is given back on the error path too.
  auto tampered = tar;
  auto at = tampered.find(p.rootfs.substr(5 << 20, 64));
  ASSERT_NE(at, std::string::npos);
  tampered[at] = static_cast<char>(tampered[at] ^ 1);
  lending_pool pool{tampered, 1 << 20};
  auto opts = p.options();
  opts.on_data = [](const firmware_resource&, const char*, size_t) { return caf::error{}; };
  auto r = read_firmware(pool.source(), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), code(firmware_file_errc::hash_mismatch)) << describe(r.error());
  EXPECT_EQ(pool.outstanding(), 0);
  // A callback error stops reading with blocks still queued for the hasher:
  // they are given back all the same.
  lending_pool stopped{tar, 1 << 20};
  int calls = 0;
  opts.on_data = [&](const firmware_resource&, const char*, size_t) {
    return ++calls == 5 ? make_error(firmware_file_errc::io_error, "disk full") : caf::error{};
  };
  r = read_firmware(stopped.source(), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "disk full");
  EXPECT_EQ(stopped.outstanding(), 0);
}

// Wrong structure: order, missing signature, extra, duplicate, symlink,
// traversal names, compression — all refused before any resource byte.
TEST(firmware_archive, hostile_structure_refused) {
  signed_parts p;
  auto m = p.members();
  struct bad_case {
    std::string name;
    std::vector<member> members;
    firmware_file_errc want;
    bool gzip = false;
  };
  std::vector<bad_case> cases{
      {"empty archive", {}, firmware_file_errc::truncated},
      {"signature first", {m[1], m[0], m[2], m[3]}, firmware_file_errc::bad_archive},
      {"rootfs first", {m[2], m[0], m[1], m[3]}, firmware_file_errc::bad_archive},
      {"signature missing", {m[0], m[2], m[3]}, firmware_file_errc::bad_archive},
      {"only the manifest", {m[0]}, firmware_file_errc::truncated},
      {"resource missing", {m[0], m[1], m[2]}, firmware_file_errc::truncated},
      {"extra member",
       {m[0], m[1], m[2], m[3], {"evil.sh", "rm -rf /"}},
       firmware_file_errc::bad_archive},
      {"traversal member",
       {m[0], m[1], {"../rootfs.img", p.rootfs}, m[3]},
       firmware_file_errc::bad_archive},
      {"absolute member",
       {m[0], m[1], {"/rootfs.img", p.rootfs}, m[3]},
       firmware_file_errc::bad_archive},
      {"duplicate resource", {m[0], m[1], m[2], m[2], m[3]}, firmware_file_errc::bad_archive},
      {"symlink resource",
       {m[0], m[1], {"rootfs.img", "", AE_IFLNK}, m[3]},
       firmware_file_errc::bad_archive},
      {"directory manifest",
       {{"manifest", "", AE_IFDIR}, m[1], m[2], m[3]},
       firmware_file_errc::bad_archive},
      {"manifest too large",
       {{"manifest", std::string(70000, 'x')}, m[1], m[2], m[3]},
       firmware_file_errc::bad_archive},
      {"signature garbage",
       {m[0], {"manifest.sig", "not base64!"}, m[2], m[3]},
       firmware_file_errc::bad_signature},
      {"signature too large",
       {m[0], {"manifest.sig", std::string(1000, 'A')}, m[2], m[3]},
       firmware_file_errc::bad_archive},
      {"gzip compressed", m, firmware_file_errc::bad_archive, true},
  };
  for (const auto& c : cases) {
    auto tar = make_tar(c.members, c.gzip);
    auto opts = p.options();
    bool data_seen = false;
    opts.on_data = [&](const firmware_resource&, const char*, size_t) {
      data_seen = true;
      return caf::error{};
    };
    auto r = read_firmware(chunks_of(tar, 4096), opts);
    ASSERT_FALSE(r) << c.name;
    EXPECT_EQ(code_of(r.error()), code(c.want)) << c.name << ": " << describe(r.error());
    bool structure_before_data = c.name.find("member") == std::string::npos &&
                                 c.name.find("duplicate") == std::string::npos &&
                                 c.name.find("resource") == std::string::npos;
    if (structure_before_data) {
      EXPECT_FALSE(data_seen) << c.name;
    }
  }
}

// A manifest not signed by a trusted key (or changed after signing) stops
// reading before on_manifest and before any data.
TEST(firmware_archive, bad_signature_stops_before_data) {
  signed_parts p;
  auto members = p.members();
  members[0].data = members[0].data.substr(0, members[0].data.size() - 1) + "0\n";
  bool called = false;
  auto opts = p.options();
  opts.on_manifest = [&](const firmware_manifest&) {
    called = true;
    return caf::error{};
  };
  opts.on_data = [&](const firmware_resource&, const char*, size_t) {
    called = true;
    return caf::error{};
  };
  auto tar = make_tar(members);
  auto r = read_firmware(chunks_of(tar, 4096), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(code_of(r.error()), code(firmware_file_errc::bad_signature));
  EXPECT_FALSE(called);
  opts.trusted.clear();
  r = read_firmware(chunks_of(tar, 4096), opts);
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("no trusted keys"), std::string::npos);
}

// Sizes: a manifest declaring a huge size, a tar header declaring more than
// is there, and contents that differ from the hash.
TEST(firmware_archive, size_and_hash_mismatches_refused) {
  {
    signed_parts p;
    p.manifest.resources[0].size = uint64_t{1} << 40;
    p.resign();
    auto r = read_firmware(chunks_of(make_tar(p.members()), 4096), p.options());
    ASSERT_FALSE(r);
    EXPECT_EQ(code_of(r.error()), code(firmware_file_errc::hash_mismatch));
    EXPECT_NE(describe(r.error()).find("the manifest says 1099511627776"), std::string::npos);
  }
  {
    // Header and manifest both claim 7 GiB; the data is not there. (The
    // header is patched: libarchive's writer would pad the member with zeros.)
    signed_parts p;
    constexpr uint64_t huge = uint64_t{7} << 30;
    p.manifest.resources[0].size = huge;
    p.resign();
    auto tar = make_tar(p.members());
    ASSERT_TRUE(set_member_size(tar, "rootfs.img", huge));
    auto r = read_firmware(chunks_of(tar, 4096), p.options());
    ASSERT_FALSE(r);
    EXPECT_EQ(code_of(r.error()), code(firmware_file_errc::truncated)) << describe(r.error());
  }
  {
    signed_parts p;
    auto members = p.members();
    members[2].data[5000] = 'X';
    auto r = read_firmware(chunks_of(make_tar(members), 4096), p.options());
    ASSERT_FALSE(r);
    EXPECT_EQ(code_of(r.error()), code(firmware_file_errc::hash_mismatch));
  }
}

// A callback's error stops reading and is returned as is.
TEST(firmware_archive, callback_errors_stop_reading) {
  signed_parts p;
  auto tar = make_tar(p.members());
  auto opts = p.options();
  opts.on_manifest = [](const firmware_manifest&) {
    return make_error(firmware_file_errc::wrong_target, "not for this device");
  };
  auto r = read_firmware(chunks_of(tar, 4096), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "not for this device");
  opts = p.options();
  size_t bytes = 0;
  opts.on_data = [&](const firmware_resource&, const char*, size_t n) {
    bytes += n;
    return bytes > 10000 ? make_error(firmware_file_errc::io_error, "disk full") : caf::error{};
  };
  r = read_firmware(chunks_of(tar, 4096), opts);
  ASSERT_FALSE(r);
  EXPECT_EQ(describe(r.error()), "disk full");
}

}  // namespace
