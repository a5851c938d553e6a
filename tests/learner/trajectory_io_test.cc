#include "learner/trajectory_io.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace memr1::learner {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          (name + "." + std::to_string(::getpid()))).string();
}

v1::Trajectory Valid() {
  v1::Trajectory t;
  t.set_id("t1");
  t.add_prompt_ids(1);
  t.add_prompt_ids(2);
  t.add_response_ids(3);
  t.add_response_ids(4);
  t.add_behaviour_logprobs(-0.5f);
  t.add_behaviour_logprobs(-1.5f);
  t.set_reward(1.0);
  t.set_group_id("g");
  t.set_agent(v1::AGENT_KIND_ANSWER_AGENT);
  t.mutable_episode()->set_conversation_id("conv-26");
  return t;
}

TEST(TrajectoryIoTest, RoundTripsThroughJsonLines) {
  const std::string path = TempPath("memr1_traj_roundtrip.jsonl");
  std::vector<v1::Trajectory> in = {Valid(), Valid()};
  in[1].set_id("t2");
  in[1].add_loss_mask(1);
  in[1].add_loss_mask(0);
  ASSERT_TRUE(WriteTrajectoriesJsonl(path, in).ok());
  auto out = ReadTrajectoriesJsonl(path, /*vocab_size=*/10);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->size(), 2u);
  EXPECT_EQ((*out)[1].id(), "t2");
  EXPECT_EQ((*out)[1].loss_mask(1), 0u);
  EXPECT_EQ((*out)[0].episode().conversation_id(), "conv-26");
  std::remove(path.c_str());
}

TEST(TrajectoryIoTest, BadLineIsRejectedWithItsLineNumber) {
  const std::string path = TempPath("memr1_traj_bad.jsonl");
  {
    std::ofstream out(path);
    out << R"({"id":"a","responseIds":[1],"behaviourLogprobs":[-1]})" << "\n\n";
    out << R"({"id":"b","responseIds":[1,2],"behaviourLogprobs":[-1]})" << "\n";
  }
  auto out = ReadTrajectoriesJsonl(path);
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find(":3: behaviour_logprobs has 1 entries, expected 2"),
            std::string::npos)
      << out.status();
  std::remove(path.c_str());
}

TEST(TrajectoryIoTest, UnknownFieldAndMissingFileAreErrors) {
  EXPECT_FALSE(ParseTrajectoryJson(R"({"responseIds":[1],"behaviourLogprobs":[-1],"x":1})").ok());
  EXPECT_EQ(ReadTrajectoriesJsonl("/nonexistent/x.jsonl").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(TrajectoryIoTest, ValidationNamesTheField) {
  auto t = Valid();
  EXPECT_TRUE(ValidateTrajectory(t, 10).ok());
  EXPECT_NE(ValidateTrajectory(t, 4).message().find("response_ids[1] = 4"), std::string::npos);
  t.add_loss_mask(0);
  t.add_loss_mask(0);
  EXPECT_NE(ValidateTrajectory(t).message().find("loss_mask has no policy token"),
            std::string::npos);
  t = Valid();
  t.set_behaviour_logprobs(0, 0.5f);
  EXPECT_NE(ValidateTrajectory(t).message().find("behaviour_logprobs[0]"), std::string::npos);
  t = Valid();
  t.clear_response_ids();
  EXPECT_FALSE(ValidateTrajectory(t).ok());
}

}  // namespace
}  // namespace memr1::learner
