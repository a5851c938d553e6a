#include "common/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace memr1 {
namespace {

TEST(ProgressMeterTest, PrintsFirstUpdateAndCompletionButThrottlesTheRest) {
  std::ostringstream out;
  ProgressMeter meter("turns", 10, &out, absl::Hours(1));
  meter.Update(1);
  meter.Update(2);
  meter.Update(3);
  meter.Update(10);
  meter.Update(10);
  std::istringstream lines(out.str());
  std::string first, last, extra;
  ASSERT_TRUE(std::getline(lines, first));
  ASSERT_TRUE(std::getline(lines, last));
  EXPECT_FALSE(std::getline(lines, extra)) << out.str();
  EXPECT_EQ(first.rfind("turns: 1/10 (10.0%)", 0), 0u) << first;
  EXPECT_EQ(last.rfind("turns: 10/10 (100.0%) done in", 0), 0u) << last;
}

TEST(ProgressMeterTest, CountIsMonotoneAndCapped) {
  ProgressMeter meter("x", 5, nullptr);
  meter.Update(3);
  meter.Update(2);
  EXPECT_EQ(meter.done(), 3);
  meter.Add(10);
  EXPECT_EQ(meter.done(), 5);
}

TEST(ProgressMeterTest, FormatsTimeLeft) {
  EXPECT_EQ(FormatEta(absl::Seconds(12)), "12s");
  EXPECT_EQ(FormatEta(absl::Seconds(187)), "3m07s");
  EXPECT_EQ(FormatEta(absl::Seconds(3720)), "1h02m");
  EXPECT_EQ(FormatEta(absl::Seconds(-5)), "0s");
}

}  // namespace
}  // namespace memr1
