// Tests of runtime/src/platform/signing.cpp: key files, signatures, SHA-256.
#include "myelin/runtime/platform/signing.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::temp_dir;

namespace {

// A signature made with one key verifies with it and not with another.
TEST(signing, sign_verify_roundtrip_and_wrong_key) {
  auto a = generate_key_pair();
  auto b = generate_key_pair();
  auto sig = sign(a.secret, "manifest");
  EXPECT_TRUE(verify(a.pub, "manifest", sig));
  EXPECT_FALSE(verify(b.pub, "manifest", sig));
  EXPECT_FALSE(verify(a.pub, "manifest!", sig));
  auto idx = verify_any({b.pub, a.pub}, "manifest", sig);
  ASSERT_TRUE(idx);
  EXPECT_EQ(*idx, 1u);
  EXPECT_FALSE(verify_any({b.pub}, "manifest", sig));
  EXPECT_FALSE(verify_any({}, "manifest", sig));
}

// Keys and signatures survive their text form; malformed text is refused.
TEST(signing, text_forms_roundtrip_and_malformed_refused) {
  auto k = generate_key_pair();
  auto text = format_public_key(k.pub);
  EXPECT_EQ(text.rfind("ed25519:", 0), 0u);
  auto back = parse_public_key("  " + text + "\n");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, k.pub);
  std::vector<std::string> bad_keys{"",
                                    "ed25519:",
                                    "ed25519:AAAA",
                                    "rsa:" + text.substr(8),
                                    text + "AA",
                                    text.substr(0, text.size() - 4),
                                    "ed25519:!!!!"};
  for (const auto& bad : bad_keys)
    EXPECT_FALSE(parse_public_key(bad)) << bad;
  auto sig = sign(k.secret, "x");
  auto sig_back = parse_signature(format_signature(sig));
  ASSERT_TRUE(sig_back);
  EXPECT_EQ(*sig_back, sig);
  EXPECT_FALSE(parse_signature("AAAA"));
  EXPECT_FALSE(parse_signature(""));
}

// Key files: written with the right modes, read back, never overwritten.
TEST(signing, key_files_written_read_and_not_overwritten) {
  temp_dir dir;
  auto name = (dir.path() / "dev").string();
  auto keys = generate_key_pair();
  ASSERT_FALSE(write_key_pair(keys, name));
  struct stat st;
  ASSERT_EQ(::stat((name + ".key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto secret = read_secret_key_file(name + ".key");
  ASSERT_TRUE(secret);
  EXPECT_EQ(secret->pub, keys.pub);
  EXPECT_EQ(secret->secret, keys.secret);
  auto pub = read_public_key_file(name + ".pub");
  ASSERT_TRUE(pub);
  EXPECT_EQ(*pub, keys.pub);
  EXPECT_TRUE(write_key_pair(generate_key_pair(), name));
  EXPECT_EQ(*read_public_key_file(name + ".pub"), keys.pub);
  EXPECT_FALSE(read_public_key_file((dir.path() / "missing.pub").string()));
  EXPECT_FALSE(read_secret_key_file(name + ".pub"));
  EXPECT_FALSE(read_public_key_file(name + ".key"));
}

// SHA-256 matches the FIPS 180-2 test vectors, incrementally and from a file.
TEST(signing, sha256_known_vectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sha256 h;
  h.update("a");
  h.update("bc");
  EXPECT_EQ(h.finish_hex(), sha256_hex("abc"));
  temp_dir dir;
  myelin::test::write_file(dir.path() / "f", "abc");
  auto f = sha256_file_hex((dir.path() / "f").string());
  ASSERT_TRUE(f);
  EXPECT_EQ(*f, sha256_hex("abc"));
  EXPECT_FALSE(sha256_file_hex((dir.path() / "nope").string()));
}

}  // namespace
