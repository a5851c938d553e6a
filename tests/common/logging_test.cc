#include "common/logging.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>

namespace memr1 {
namespace {

using ::testing::HasSubstr;

TEST(LoggingTest, EveryLineCarriesRoleRankPidAndLocation) {
  SetLogContext("learner", 1);
  testing::internal::CaptureStderr();
  MEMR1_LOG(INFO) << "step " << 3;
  MEMR1_LOG(DEBUG) << "hidden at info level";
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_search(
      out, std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z I learner\[1\] pid=\d+ )"
                      R"(logging_test\.cc:\d+\] step 3\n$)")))
      << out;
  EXPECT_THAT(out, HasSubstr("pid=" + std::to_string(getpid())));
  SetLogContext("memr1", -1);
}

TEST(LoggingTest, MinimumSeverityFiltersAndParses) {
  LogSeverity severity;
  ASSERT_TRUE(ParseLogSeverity("WARNING", &severity));
  EXPECT_EQ(severity, LogSeverity::kWarning);
  EXPECT_FALSE(ParseLogSeverity("loud", &severity));
  SetMinLogSeverity(LogSeverity::kWarning);
  testing::internal::CaptureStderr();
  MEMR1_LOG(INFO) << "dropped";
  MEMR1_LOG(ERROR) << "kept";
  const std::string out = testing::internal::GetCapturedStderr();
  SetMinLogSeverity(LogSeverity::kInfo);
  EXPECT_THAT(out, Not(HasSubstr("dropped")));
  EXPECT_THAT(out, HasSubstr(" E memr1 "));
}

TEST(LoggingDeathTest, FailedCheckAborts) {
  EXPECT_DEATH(MEMR1_CHECK(1 + 1 == 3) << "math", "Check failed: 1 \\+ 1 == 3 math");
}

}  // namespace
}  // namespace memr1
