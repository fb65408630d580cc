// Decision 0079: what the control channel refuses before routing.
#include <gtest/gtest.h>

#include "myelin/actors/console_checks.hpp"

using myelin::actors::cross_origin_refusal;
using myelin::actors::is_loopback_address;

TEST(console_checks, loopback_means_an_address_literal) {
  for (const char* yes : {"127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_address(yes)) << yes;
  }
  for (const char* no : {"localhost", "127.example.com", "127.0.0.1.nip.io", "0.0.0.0",
                         "::", "10.0.0.1", "128.0.0.1", "", "127.0.0.1 ", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(is_loopback_address(no)) << no;
  }
}

TEST(console_checks, clients_without_browser_headers_pass) {
  EXPECT_EQ(cross_origin_refusal("127.0.0.1:4848", "", "", false, true), "");
  EXPECT_EQ(cross_origin_refusal("localhost:4848", "", "", false, true), "");
  EXPECT_EQ(cross_origin_refusal("[::1]:4848", "", "", false, true), "");
  EXPECT_EQ(cross_origin_refusal("", "", "", false, true), "") << "HTTP/1.0 without Host";
  EXPECT_EQ(cross_origin_refusal("device.local:4848", "", "", true, false), "");
}

TEST(console_checks, same_origin_pages_pass) {
  EXPECT_EQ(
      cross_origin_refusal("127.0.0.1:4848", "http://127.0.0.1:4848", "same-origin", false, true),
      "");
  EXPECT_EQ(cross_origin_refusal("Device.local:4848", "https://device.local:4848", "", true, false),
            "");
  EXPECT_EQ(cross_origin_refusal("127.0.0.1:4848", "", "none", false, true), "");
}

TEST(console_checks, web_pages_and_rebound_names_are_refused) {
  // CSRF: a page elsewhere posts to the laptop's device.
  EXPECT_NE(
      cross_origin_refusal("127.0.0.1:4848", "https://evil.example", "cross-site", false, true),
      "");
  EXPECT_NE(cross_origin_refusal("127.0.0.1:4848", "https://evil.example", "", false, true), "");
  EXPECT_NE(cross_origin_refusal("127.0.0.1:4848", "null", "", false, true), "");
  // Another port on loopback is another origin (a dev server's page).
  EXPECT_NE(
      cross_origin_refusal("127.0.0.1:4848", "http://127.0.0.1:3000", "same-site", false, true),
      "");
  EXPECT_NE(cross_origin_refusal("127.0.0.1:4848", "", "same-site", false, true), "");
  EXPECT_NE(cross_origin_refusal("127.0.0.1:4848", "", "cross-site", false, true), "");
  // The scheme is part of the origin.
  EXPECT_NE(cross_origin_refusal("device:4848", "http://device:4848", "", true, false), "");
  // DNS rebinding: the page's own name, now pointing at 127.0.0.1.
  auto why = cross_origin_refusal("evil.example:4848", "http://evil.example:4848", "same-origin",
                                  false, true);
  EXPECT_NE(why.find("DNS rebinding"), std::string::npos) << why;
  EXPECT_NE(cross_origin_refusal("127.example.com:4848", "", "", false, true), "");
  EXPECT_NE(cross_origin_refusal("127.0.0.1\r\nX: y", "", "", false, true), "");
  EXPECT_NE(cross_origin_refusal(std::string(300, 'a'), "", "", false, false), "");
}

TEST(console_checks, bodies_are_neither_inflated_nor_chunked_past_the_cap) {
  using myelin::actors::body_refusal;
  EXPECT_EQ(body_refusal("PUT", "/v1/kv/a", "", "").first, 0);
  EXPECT_EQ(body_refusal("PUT", "/v1/kv/a", "identity", "").first, 0);
  EXPECT_EQ(body_refusal("PUT", "/v1/kv/a", "gzip", "").first, 415);
  EXPECT_EQ(body_refusal("POST", "/v1/fw/upload", "GZIP", "chunked").first, 415);
  EXPECT_EQ(body_refusal("PUT", "/v1/kv/a", "", "chunked").first, 411);
  EXPECT_EQ(body_refusal("POST", "/v1/power/reboot", "", "chunked").first, 411);
  EXPECT_EQ(body_refusal("POST", "/v1/fw/upload", "", "chunked").first, 0);
  EXPECT_EQ(body_refusal("POST", "/v1/overlays", "", "chunked").first, 0);
  EXPECT_EQ(body_refusal("PUT", "/v1/overlays", "", "chunked").first, 411);
}

TEST(console_checks, certificate_roles_from_the_subject) {
  using myelin::actors::control_role;
  using myelin::actors::role_of;
  std::vector<std::string> none;
  EXPECT_EQ(role_of("developer", {}, {"*"}, none), control_role::admin) << "the default";
  EXPECT_EQ(role_of("ci", {"fleet"}, {"CN=ada", "OU=ops"}, {"OU=fleet"}), control_role::reader);
  EXPECT_EQ(role_of("ada", {}, {"CN=ada"}, {"*"}), control_role::admin);
  EXPECT_EQ(role_of("ada", {}, {"ada"}, none), control_role::admin) << "a bare name is a CN";
  EXPECT_EQ(role_of("bob", {"ops"}, {"OU=ops"}, none), control_role::admin);
  EXPECT_EQ(role_of("bob", {"dev"}, {"OU=ops"}, {"CN=carol"}), control_role::none);
  EXPECT_EQ(role_of("", {}, {"CN="}, {"OU="}), control_role::none) << "empty names match nothing";
  EXPECT_EQ(role_of("OU=ops", {}, {"OU=ops"}, none), control_role::none)
      << "a CN that looks like an entry is not a unit";
  EXPECT_TRUE(myelin::actors::changes_state("POST"));
  EXPECT_TRUE(myelin::actors::changes_state("PUT"));
  EXPECT_TRUE(myelin::actors::changes_state("DELETE"));
  EXPECT_FALSE(myelin::actors::changes_state("GET"));
  EXPECT_FALSE(myelin::actors::changes_state("HEAD"));
}
