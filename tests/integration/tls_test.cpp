// The control channel off loopback: HTTPS with client certificates, checked
// with certificates made by openssl; plain HTTP on a public address refused.
#include <gtest/gtest.h>

#include "device_fixture.hpp"
#include "myelin/test/support.hpp"

using namespace std::chrono_literals;
using myelin::test::booted_device;
using myelin::test::exit_code_of;
using myelin::test::run;
using myelin::test::run_myelin;
using myelin::test::shell_quote;

namespace {

/// A CA, a server certificate for 127.0.0.1, a client certificate, and a
/// client certificate from another CA.
struct pki {
  myelin::test::temp_dir dir;
  bool ok = false;

  std::string path(const std::string& name) const { return (dir / name).string(); }

  pki() {
    auto d = shell_quote(dir.path().string());
    std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    std::string script =
        "set -e; cd " + d + "; " + "openssl req -x509" + ec +
        "-keyout ca.key -out ca.pem -days 2 -subj /CN=myelin-test-ca;" + "openssl req -x509" + ec +
        "-keyout rogue-ca.key -out rogue-ca.pem -days 2 -subj /CN=rogue;" +
        "printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext;" + "openssl req" + ec +
        "-keyout server.key -out server.csr -subj /CN=device;" +
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile san.ext -out server.pem;" +
        "openssl req" + ec + "-keyout client.key -out client.csr -subj /CN=developer;" +
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-out client.pem;" +
        "openssl req" + ec + "-keyout observer.key -out observer.csr -subj /CN=dash/OU=observers;" +
        "openssl x509 -req -in observer.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-out observer.pem;" +
        "openssl req" + ec + "-keyout rogue.key -out rogue.csr -subj /CN=intruder;" +
        "openssl x509 -req -in rogue.csr -CA rogue-ca.pem -CAkey rogue-ca.key -CAcreateserial "
        "-days 2 -out rogue.pem";
    auto r = run("sh -c " + shell_quote(script));
    ok = r.exit_code == 0;
    EXPECT_TRUE(ok) << r.output;
  }

  std::vector<std::string> server_args() const {
    return {"--set", "control.tls=true",
            "--set", "control.cert=" + path("server.pem"),
            "--set", "control.key=" + path("server.key"),
            "--set", "control.client_ca=" + path("ca.pem")};
  }
};

bool has_openssl() {
  return run("command -v openssl").exit_code == 0;
}

}  // namespace

// With TLS, a client with a certificate from the device's CA is served;
// without one, with a foreign one, or over plain HTTP, it is not.
TEST(tls, client_certificates_required) {
  if (!has_openssl()) {
    GTEST_SKIP() << "needs the openssl command";
  }
  pki certs;
  ASSERT_TRUE(certs.ok);
  booted_device dev(certs.server_args());
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  EXPECT_NE(dev.ready_line.find("https://127.0.0.1:"), std::string::npos) << dev.ready_line;
  auto good = run_myelin({"status", "--device", dev.address(), "--ca", certs.path("ca.pem"),
                          "--cert", certs.path("client.pem"), "--key", certs.path("client.key")});
  EXPECT_EQ(good.exit_code, 0) << good.output;
  EXPECT_NE(good.output.find("device:   myelin-host"), std::string::npos) << good.output;
  auto no_cert = run_myelin({"status", "--device", dev.address(), "--ca", certs.path("ca.pem")});
  EXPECT_EQ(no_cert.exit_code, 1) << no_cert.output;
  auto rogue = run_myelin({"status", "--device", dev.address(), "--ca", certs.path("ca.pem"),
                           "--cert", certs.path("rogue.pem"), "--key", certs.path("rogue.key")});
  EXPECT_EQ(rogue.exit_code, 1) << rogue.output;
  auto plain = run_myelin({"status", "--device", dev.address()});
  EXPECT_EQ(plain.exit_code, 1) << plain.output;
  // A device certificate from another CA is not trusted by the client.
  auto wrong_ca =
      run_myelin({"status", "--device", dev.address(), "--ca", certs.path("rogue-ca.pem"), "--cert",
                  certs.path("client.pem"), "--key", certs.path("client.key")});
  EXPECT_EQ(wrong_ca.exit_code, 1) << wrong_ca.output;
  // The tool reads the same settings from the environment.
  auto env = run("MYELIN_CA=" + shell_quote(certs.path("ca.pem")) +
                 " MYELIN_CERT=" + shell_quote(certs.path("client.pem")) +
                 " MYELIN_KEY=" + shell_quote(certs.path("client.key")) + " " +
                 shell_quote(myelin::test::bin("myelin")) + " kv get nerves_fw_active --device " +
                 dev.address());
  EXPECT_EQ(env.output, "a\n");
  auto half = run_myelin({"status", "--device", dev.address(), "--cert", certs.path("client.pem")});
  EXPECT_EQ(half.exit_code, 1);
  EXPECT_NE(half.output.find("needs both --cert and --key"), std::string::npos) << half.output;
}

// Plain HTTP on an address other than loopback is refused with the reason,
// unless explicitly allowed.
TEST(tls, plain_http_off_loopback_refused) {
  myelin::test::temp_dir state;
  myelin::test::child_process refused({myelin::test::bin("myelin-boot"), "--config",
                                       myelin::test::host_config(), "--set",
                                       "control.address=0.0.0.0", "--set", "control.port=0",
                                       "--set", "state.dir=" + state.path().string()});
  // Refused — and the core still boots (decision 0074), on loopback only.
  auto ready = refused.wait_for_line(" ms: core [", 20s);
  ASSERT_TRUE(ready) << refused.output();
  EXPECT_NE(
      refused.output().find("refusing plain HTTP on 0.0.0.0, which is not a loopback address"),
      std::string::npos)
      << refused.output();
  EXPECT_NE(ready->find("control channel http://127.0.0.1:"), std::string::npos) << *ready;
  refused.signal(SIGTERM);
  EXPECT_TRUE(refused.wait(20s));
  booted_device allowed(
      {"--set", "control.address=0.0.0.0", "--set", "control.allow_unauthenticated=true"});
  EXPECT_FALSE(allowed.ready_line.empty());
}

// A broken TLS setup names the key at fault.
TEST(tls, bad_tls_files_refused) {
  if (!has_openssl()) {
    GTEST_SKIP() << "needs the openssl command";
  }
  pki certs;
  ASSERT_TRUE(certs.ok);
  myelin::test::temp_dir state;
  auto boot = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{myelin::test::bin("myelin-boot"),
                                  "--config",
                                  myelin::test::host_config(),
                                  "--set",
                                  "control.port=0",
                                  "--set",
                                  "state.dir=" + state.path().string(),
                                  "--set",
                                  "control.tls=true"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    // The core boots anyway, the channel on loopback (decision 0074).
    auto proc = std::make_unique<myelin::test::child_process>(argv);
    EXPECT_TRUE(proc->wait_for_line(" ms: core [", 20s)) << proc->output();
    proc->signal(SIGTERM);
    proc->wait(20s);
    return proc->output();
  };
  EXPECT_NE(boot({"--set", "control.cert=/nonexistent.pem", "--set",
                  "control.key=" + certs.path("server.key"), "--set",
                  "control.client_ca=" + certs.path("ca.pem")})
                .find("control.cert = /nonexistent.pem: No such file or directory"),
            std::string::npos);
  EXPECT_NE(boot({"--set", "control.cert=" + certs.path("server.pem"), "--set",
                  "control.key=" + certs.path("server.key")})
                .find("control.client_ca is required with control.tls"),
            std::string::npos);
  EXPECT_NE(boot({"--set", "control.cert=" + certs.path("server.pem"), "--set",
                  "control.key=" + certs.path("client.key"), "--set",
                  "control.client_ca=" + certs.path("ca.pem")})
                .find("TLS setup failed"),
            std::string::npos);
}

// Issue 18: roles from the certificate's subject. With admins = CN=developer
// and readers = OU=observers, the observer reads but cannot change
// anything, and a certificate of the same CA in neither list is refused.
TEST(tls, certificate_roles_read_only_and_none) {
  if (!has_openssl()) {
    GTEST_SKIP() << "needs the openssl command";
  }
  pki certs;
  ASSERT_TRUE(certs.ok);
  auto args = certs.server_args();
  args.insert(args.end(), {"--set", "control.admin_clients=CN=developer", "--set",
                           "control.reader_clients=OU=observers"});
  booted_device dev(args);
  ASSERT_GT(dev.port, 0) << dev.proc->output();
  auto as = [&](const std::string& who, std::vector<std::string> cmd) {
    cmd.insert(cmd.end(), {"--device", dev.address(), "--ca", certs.path("ca.pem"), "--cert",
                           certs.path(who + ".pem"), "--key", certs.path(who + ".key")});
    return run_myelin(cmd);
  };
  auto read = as("observer", {"kv", "get", "nerves_fw_active"});
  EXPECT_EQ(read.exit_code, 0) << read.output;
  EXPECT_EQ(read.output, "a\n");
  auto write = as("observer", {"kv", "put", "app.hello.x=1"});
  EXPECT_NE(write.exit_code, 0) << write.output;
  EXPECT_NE(write.output.find("may only read"), std::string::npos) << write.output;
  auto reboot = as("observer", {"fw", "validate"});
  EXPECT_NE(reboot.exit_code, 0) << reboot.output;
  auto admin = as("client", {"kv", "put", "app.hello.x=1"});
  EXPECT_EQ(admin.exit_code, 0) << admin.output;
  EXPECT_EQ(as("observer", {"kv", "get", "app.hello.x"}).output, "1\n");
  // The CA's other certificate (CN=device) is in neither list.
  auto stranger = as("server", {"kv", "get", "nerves_fw_active"});
  EXPECT_NE(stranger.exit_code, 0) << stranger.output;
  EXPECT_NE(stranger.output.find("has no role here"), std::string::npos) << stranger.output;
}
