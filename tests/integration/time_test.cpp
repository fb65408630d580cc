// The time service with a real myelin-boot in host mode, where it never sets
// the laptop's clock (time.set_clock = auto): the floor's choice from the
// saved time and the firmware's build time, what it would do, and the saving.
// Setting the clock for real is tested in the device image (image.time).
#include <chrono>
#include <ctime>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "device_fixture.hpp"

using namespace myelin::test;
using namespace std::chrono_literals;

namespace {

nlohmann::json time_of(const booted_device& dev) {
  auto r = run_myelin({"time", "--json", "--device", dev.address()});
  auto doc = nlohmann::json::parse(r.output, nullptr, false);
  return doc.is_discarded() ? nlohmann::json{{"output", r.output}} : doc;
}

int64_t now_s() {
  return static_cast<int64_t>(std::time(nullptr));
}

}  // namespace

// A saved time newer than the clock is the floor; in host mode the service
// only says what it would do. At stop the time is saved again.
TEST(time, saved_time_is_the_floor_and_saved_again_at_stop) {
  temp_dir state;
  std::filesystem::create_directories(state / "time");
  auto ahead = now_s() + 86400;
  write_file(state / "time" / "saved", std::to_string(ahead) + "\n");
  {
    booted_device dev{{}, state.path().string()};
    ASSERT_GT(dev.port, 0);
    auto t = time_of(dev);
    EXPECT_EQ(t.value("floor_source", ""), "saved time") << t.dump();
    EXPECT_EQ(t.value("floor", int64_t{0}), ahead) << t.dump();
    EXPECT_FALSE(t.value("set_clock", true));
    EXPECT_NE(t.value("adjustment", "").find("would set the clock from "), std::string::npos)
        << t.dump();
    EXPECT_NE(t.value("adjustment", "").find("(time.set_clock is off here)"), std::string::npos);
    auto text = run_myelin({"time", "--device", dev.address()});
    EXPECT_NE(text.output.find("floor:        "), std::string::npos) << text.output;
    // The clock is before the floor: it is not saved over the floor.
    EXPECT_EQ(read_file(state / "time" / "saved"), std::to_string(ahead) + "\n");
  }
  // A clock in order is saved at start and at stop.
  write_file(state / "time" / "saved", "garbage\n");
  auto before = now_s();
  {
    booted_device dev{{}, state.path().string()};
    ASSERT_GT(dev.port, 0);
    auto t = time_of(dev);
    EXPECT_EQ(t.value("floor_source", ""), "build time") << t.dump();
    EXPECT_EQ(t.value("adjustment", "x"), "") << t.dump();
    EXPECT_GE(t.value("now", int64_t{0}), t.value("build_time", int64_t{0}));
  }
  auto saved = std::stoll(read_file(state / "time" / "saved"));
  EXPECT_GE(saved, before);
  EXPECT_LE(saved, now_s());
}

// The firmware's build time (time.build_time_file) counts when it is newer
// than myelin's own; `myelin status` shows the time line.
TEST(time, firmware_build_time_raises_the_floor) {
  temp_dir dir;
  auto file = dir / "build-time";
  auto later = now_s() + 3600;
  write_file(file, std::to_string(later) + "\n");
  booted_device dev{{"--set", "time.build_time_file=" + file.string()}};
  ASSERT_GT(dev.port, 0);
  auto t = time_of(dev);
  EXPECT_EQ(t.value("build_time", int64_t{0}), later) << t.dump();
  EXPECT_EQ(t.value("floor", int64_t{0}), later) << t.dump();
  auto status = run_myelin({"status", "--device", dev.address()});
  EXPECT_NE(status.output.find("time:     "), std::string::npos) << status.output;
  EXPECT_NE(status.output.find("not synchronized"), std::string::npos) << status.output;
}
