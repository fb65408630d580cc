// Tests of runtime/src/kv/serial_number.cpp: each strategy on a fixture root, the
// order, prefix / keep-rightmost / 32-character rules and the fallback.
#include "myelin/runtime/kv/serial_number.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "myelin/runtime/config/config.hpp"
#include "myelin/test/support.hpp"

using namespace myelin::runtime;
using myelin::test::temp_dir;
using myelin::test::write_file;

namespace {

/// A fake device root with /proc, /sys and a file, as on a Raspberry Pi.
struct fake_root {
  temp_dir dir;
  fake_root() {
    namespace fs = std::filesystem;
    fs::create_directories(dir / "proc/device-tree");
    fs::create_directories(dir / "sys/class/dmi/id");
    fs::create_directories(dir / "sys/class/net/eth0");
    fs::create_directories(dir / "sys/class/net/dummy0");
    fs::create_directories(dir / "etc");
    write_file(dir / "proc/cpuinfo",
               "processor\t: 0\nmodel name\t: ARMv7\n\nHardware\t: BCM2835\n"
               "Serial\t\t: 00000000a1b2c3d4\nModel\t\t: Raspberry Pi\n");
    write_file(dir / "proc/device-tree/serial-number", std::string("dt-1234\0", 8));
    write_file(dir / "sys/class/dmi/id/product_serial", "DMI-SERIAL-9\n");
    write_file(dir / "sys/class/net/eth0/address", "b8:27:eb:12:34:56\n");
    write_file(dir / "sys/class/net/dummy0/address", "00:00:00:00:00:00\n");
    write_file(dir / "etc/eeprom",
               std::string("\xff\xff\xff\xffSN-EEPROM-77\0\0\xde\xad\xbe\xef", 22));
  }

  serial_options with(const std::vector<std::string>& strategies) {
    serial_options opts;
    opts.root = dir.path().string();
    for (const auto& s : strategies) {
      auto parsed = parse_serial_strategy(s);
      EXPECT_TRUE(parsed) << s;
      if (parsed) {
        opts.strategies.push_back(*parsed);
      }
    }
    return opts;
  }
};

}  // namespace

// Every strategy finds its value on a device-like root.
TEST(serial_number, each_strategy) {
  fake_root root;
  kv_map env{{"nerves_serial_number", "ENV-42"}};
  auto one = [&](const std::string& s) { return serial_number(root.with({s}), env); };
  EXPECT_EQ(one("env:nerves_serial_number").value, "ENV-42");
  EXPECT_EQ(one("env:nerves_serial_number").source, "env:nerves_serial_number");
  EXPECT_EQ(one("cpuinfo").value, "00000000a1b2c3d4");
  EXPECT_EQ(one("device_tree").value, "dt-1234");
  EXPECT_EQ(one("dmi").value, "DMI-SERIAL-9");
  EXPECT_EQ(one("mac:eth0").value, "b827eb123456");
  EXPECT_EQ(one("file:/etc/eeprom@4:12").value, "SN-EEPROM-77");
  EXPECT_EQ(one("file:/etc/eeprom@0x12:4").value, "deadbeef");
  EXPECT_EQ(one("script:echo  from-script ; echo second").value, "from-script");
}

// The first strategy that finds something wins; failing ones are skipped.
TEST(serial_number, first_success_wins) {
  fake_root root;
  auto opts = root.with({"env:missing", "mac:dummy0", "mac:nope", "file:/etc/eeprom@0:4",
                         "script:exit 3", "script:true", "dmi", "cpuinfo"});
  auto r = serial_number(opts, {});
  EXPECT_EQ(r.value, "DMI-SERIAL-9");
  EXPECT_EQ(r.source, "dmi");
}

// A hung script is cut off after its time limit and counts as failed.
TEST(serial_number, script_timeout) {
  fake_root root;
  auto opts = root.with({"script:sleep 30", "cpuinfo"});
  opts.script_timeout = std::chrono::milliseconds{200};
  EXPECT_EQ(serial_number(opts, {}).source, "cpuinfo");
}

// prefix and keep-rightmost apply, and the result never exceeds 32 characters.
TEST(serial_number, prefix_rightmost_and_length) {
  fake_root root;
  auto opts = root.with({"cpuinfo"});
  opts.prefix = "rpi-";
  opts.keep_rightmost = 8;
  EXPECT_EQ(serial_number(opts, {}).value, "rpi-a1b2c3d4");
  auto long_opts = root.with({"env:s"});
  long_opts.prefix = "P";
  auto r = serial_number(long_opts, {{"s", std::string(40, '1') + "END"}});
  EXPECT_EQ(r.value.size(), max_serial_length);
  EXPECT_EQ(r.value.front(), 'P');
  EXPECT_EQ(r.value.substr(r.value.size() - 3), "END");
}

// When every strategy fails the defined fallback is returned, never an error.
TEST(serial_number, fallback_when_all_fail) {
  temp_dir empty;
  serial_options opts;
  opts.root = empty.path().string();
  for (const auto& s : {"cpuinfo", "device_tree", "dmi", "mac:eth0", "env:x"}) {
    opts.strategies.push_back(*parse_serial_strategy(s));
  }
  auto r = serial_number(opts, {});
  EXPECT_EQ(r.value, "00000000");
  EXPECT_EQ(r.source, "fallback");
  opts.fallback = "unknown-device";
  EXPECT_EQ(serial_number(opts, {}).value, "unknown-device");
  EXPECT_EQ(serial_number(serial_options{}, {}).source, "fallback");
}

// Malformed strategies are refused with the reason.
TEST(serial_number, bad_strategies_refused) {
  for (const auto& [text, why] :
       std::vector<std::pair<std::string, std::string>>{{"serial", "unknown strategy"},
                                                        {"env", "needs an argument"},
                                                        {"env:", "needs an argument"},
                                                        {"cpuinfo:x", "takes no argument"},
                                                        {"mac:../../etc", "not an interface name"},
                                                        {"file:relative/path", "absolute"},
                                                        {"file:/x@zz", "bad offset"},
                                                        {"file:/x@0:0", "length must be 1..64"},
                                                        {"file:/x@0:65", "length must be 1..64"}}) {
    auto s = parse_serial_strategy(text);
    ASSERT_FALSE(s) << text;
    EXPECT_NE(describe(s.error()).find(why), std::string::npos) << describe(s.error());
  }
}
