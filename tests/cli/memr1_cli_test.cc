// Runs the memr1 binary as a process and checks exit codes and output.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <fstream>
#include <string>

#include "tests/testing/process.h"

namespace {

using ::memr1::testing::RunMemr1;
using ::testing::HasSubstr;
using Result = ::memr1::testing::CommandResult;

std::string Config(const std::string& name) {
  return std::string(MEMR1_SOURCE_DIR) + "/configs/" + name;
}

std::string WriteTemp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Memr1CliTest, HelpListsOnlyWorkingSubcommands) {
  const Result result = RunMemr1("--help");
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.output, HasSubstr("version"));
  EXPECT_THAT(result.output, HasSubstr("config"));
}

TEST(Memr1CliTest, NoSubcommandIsAUsageError) {
  EXPECT_EQ(RunMemr1("").exit_code, 2);
  EXPECT_EQ(RunMemr1("frobnicate").exit_code, 2);
  EXPECT_EQ(RunMemr1("config print").exit_code, 2);  // --config is required
}

TEST(Memr1CliTest, VersionNamesCommitTorchAndNccl) {
  const Result result = RunMemr1("version");
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("memr1 0.1.0"));
  EXPECT_THAT(result.output, HasSubstr("git commit: "));
  EXPECT_THAT(result.output, HasSubstr("LibTorch: "));
  EXPECT_THAT(result.output, HasSubstr(MEMR1_WITH_NCCL ? "NCCL: compiled in" : "NCCL: not compiled in"));
}

TEST(Memr1CliTest, ConfigPrintShowsResolvedConfigWithOverrides) {
  const Result result =
      RunMemr1("config print --config " + Config("tiny-cpu.yaml") + " --set learner.actor_lr=3e-5");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("actor_lr: 3e-05"));
  EXPECT_THAT(result.output, HasSubstr("name: \"tiny-cpu\""));
  EXPECT_THAT(result.output, HasSubstr("critic_lr: 0.001"));
  EXPECT_THAT(result.output, HasSubstr("adam_beta2: 0.999"));  // a default, shown

  // What print writes is itself a valid config.
  const std::string printed = WriteTemp("printed.yaml", result.output);
  const Result again = RunMemr1("config validate --config " + printed);
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

TEST(Memr1CliTest, ConfigValidateAcceptsShippedConfigs) {
  for (const char* name : {"tiny-cpu.yaml", "qwen2.5-7b-grpo.yaml"}) {
    const Result result = RunMemr1("config validate --config " + Config(name));
    EXPECT_EQ(result.exit_code, 0) << result.output;
    EXPECT_THAT(result.output, HasSubstr(": valid"));
  }
}

TEST(Memr1CliTest, ConfigValidateRejectsBadConfigWithLocation) {
  const std::string bad = WriteTemp("bad.yaml", "learner:\n  actor_lr: 2\n");
  const Result result = RunMemr1("config validate --config " + bad);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.output, HasSubstr("bad.yaml:2:13: learner.actor_lr: 2 is out of range"));

  const Result override = RunMemr1("config validate --config " + Config("tiny-cpu.yaml") +
                              " --set learner.algorithm=dqn");
  EXPECT_EQ(override.exit_code, 1);
  EXPECT_THAT(override.output, HasSubstr("'dqn' is not one of: ppo, grpo, rloo"));

  const Result missing = RunMemr1("config validate --config /nonexistent.yaml");
  EXPECT_EQ(missing.exit_code, 2);  // CLI11 checks the file exists
}

}  // namespace
