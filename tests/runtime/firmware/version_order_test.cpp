// Anti-rollback (issue 18): Semantic Versioning 2.0 precedence.
#include "myelin/runtime/firmware/version_order.hpp"

#include <gtest/gtest.h>

using myelin::runtime::compare_versions;
using myelin::runtime::is_semver;

TEST(version_order, semver_precedence) {
  // The example chain of semver.org §11, each before the next.
  const char* chain[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
                         "1.0.0-beta",  "1.0.0-beta.2",  "1.0.0-beta.11",
                         "1.0.0-rc.1",  "1.0.0",         "1.0.1",
                         "1.1.0",       "2.0.0",         "10.0.0"};
  for (size_t i = 0; i + 1 < std::size(chain); ++i) {
    EXPECT_EQ(compare_versions(chain[i], chain[i + 1]), -1) << chain[i] << " < " << chain[i + 1];
    EXPECT_EQ(compare_versions(chain[i + 1], chain[i]), 1) << chain[i + 1] << " > " << chain[i];
  }
  EXPECT_EQ(compare_versions("1.2.3", "1.2.3"), 0);
  EXPECT_EQ(compare_versions("1.2.3+build.5", "1.2.3+other"), 0) << "build metadata is ignored";
  EXPECT_EQ(compare_versions("999999999999999999.0.0", "2.0.0"), 1);
}

TEST(version_order, what_is_not_a_version) {
  for (const char* bad :
       {"", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "v1.2.3", "1.2.3-", "1.2.3-01", "1.2.3-a..b",
        "1.2.3+", "1.2.3 ", "a.b.c", "2024.03", "1.2.3-\xff", "1000000000000000000.0.0"}) {
    EXPECT_FALSE(is_semver(bad)) << bad;
    EXPECT_EQ(compare_versions(bad, "1.0.0"), std::nullopt) << bad;
  }
  EXPECT_TRUE(is_semver("0.0.0"));
  EXPECT_TRUE(is_semver("1.2.3-rc.1+sha.abc"));
}
