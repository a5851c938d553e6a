#include "common/child_process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace memr1 {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(ChildProcessTest, PrefixesEachLineAndReportsTheExitCode) {
  std::ostringstream out;
  LogSink sink(&out);
  const std::string log = ::testing::TempDir() + "/child_test_role.log";
  std::remove(log.c_str());
  ASSERT_TRUE(sink.AddFile("role-1", log).ok());
  ChildOptions options;
  options.name = "role-1";
  options.argv = {"sh", "-c", "echo one; echo two >&2; printf 'no newline'; exit 3"};
  auto child = ChildProcess::Start(options, &sink);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_EQ((*child)->Wait(absl::Seconds(30)), 3);
  EXPECT_EQ((*child)->Stop(), 3);  // drains the output
  EXPECT_THAT(out.str(), HasSubstr("[role-1] one\n"));
  EXPECT_THAT(out.str(), HasSubstr("[role-1] two\n"));
  EXPECT_THAT(out.str(), HasSubstr("[role-1] no newline\n"));
  EXPECT_THAT(Slurp(log), HasSubstr("one\n"));
  EXPECT_THAT(sink.Tail("role-1", 1), ElementsAre("no newline"));
}

// The exit is reported only after the last lines reached the sink (a launcher shows them when
// a role dies), however much output is still in the pipe when the process ends.
TEST(ChildProcessTest, ExitIsReportedAfterTheLastLinesArrived) {
  for (int round = 0; round < 5; ++round) {
    LogSink sink(nullptr);
    ChildOptions options;
    options.name = "dying";
    // Far more than a pipe holds, in short lines: the reader is still splitting lines when
    // the child exits.
    options.argv = {"sh", "-c", "seq 1 200000; echo last words; exit 7"};
    auto child = ChildProcess::Start(options, &sink);
    ASSERT_TRUE(child.ok()) << child.status();
    std::optional<int> code;
    for (int i = 0; i < 3000000 && !code; ++i) code = (*child)->Poll();
    ASSERT_EQ(code, 7);
    EXPECT_THAT(sink.Tail("dying", 1), ElementsAre("last words")) << "round " << round;
  }
}

TEST(ChildProcessTest, EnvironmentIsPassedAndSignalsAreUnblockedInTheChild) {
  std::ostringstream out;
  LogSink sink(&out);
  // Block SIGTERM here, as ShutdownSignal does in a launcher: the child must still die of it.
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  sigset_t old;
  pthread_sigmask(SIG_BLOCK, &term, &old);
  ChildOptions options;
  options.name = "sleeper";
  options.argv = {"sh", "-c", "echo value=$MEMR1_TEST_VALUE; exec sleep 600"};
  options.env["MEMR1_TEST_VALUE"] = "42";
  auto child = ChildProcess::Start(options, &sink);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(child.ok()) << child.status();
  EXPECT_FALSE((*child)->Wait(absl::Milliseconds(200)).has_value());
  EXPECT_EQ((*child)->Stop(absl::Seconds(20)), 128 + SIGTERM);
  EXPECT_THAT(out.str(), HasSubstr("[sleeper] value=42"));
}

TEST(ChildProcessTest, StopEndsTheWholeProcessGroup) {
  std::ostringstream out;
  LogSink sink(&out);
  ChildOptions options;
  options.name = "parent";
  // The shell ignores TERM and its background grandchild keeps the pipe open: Stop must
  // escalate to SIGKILL for the group and still return.
  options.argv = {"sh", "-c", "trap '' TERM; sleep 600 & echo started; wait"};
  auto child = ChildProcess::Start(options, &sink);
  ASSERT_TRUE(child.ok());
  for (int i = 0; i < 500 && out.str().find("started") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ((*child)->Stop(absl::Milliseconds(300)), 128 + SIGKILL);
}

TEST(ChildProcessTest, MissingProgramExits127WithTheReason) {
  std::ostringstream out;
  LogSink sink(&out);
  ChildOptions options;
  options.name = "missing";
  options.argv = {"/nonexistent/memr1-no-such-program"};
  auto child = ChildProcess::Start(options, &sink);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ((*child)->Wait(absl::Seconds(30)), 127);
  EXPECT_EQ((*child)->Stop(), 127);
  EXPECT_THAT(out.str(), HasSubstr("cannot execute /nonexistent/memr1-no-such-program"));
}

TEST(ChildProcessTest, BadOptionsAreRejected) {
  LogSink sink(nullptr);
  ChildOptions options;
  options.name = "x";
  EXPECT_EQ(ChildProcess::Start(options, &sink).status().code(),
            absl::StatusCode::kInvalidArgument);
  options.name = "bad name";
  options.argv = {"true"};
  EXPECT_EQ(ChildProcess::Start(options, &sink).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memr1
