// `memr1 learner offline` and `memr1 plan` end to end, as a user runs them.

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/process.h"

namespace memr1::learner {
namespace {

namespace fs = std::filesystem;
using memr1::testing::RunMemr1;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class LearnerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("memr1_learner_cli." + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "tiny.json")
        << R"({"vocab_size": 32, "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2})";
    auto init = RunMemr1("model init --arch qwen2 --seed 3 --config " + (dir_ / "tiny.json").string() +
                         " --output " + (dir_ / "model").string());
    ASSERT_EQ(init.exit_code, 0) << init.output;
    std::ofstream out(dir_ / "traj.jsonl");
    for (int i = 0; i < 12; ++i) {
      out << R"({"id":"t)" << i << R"(","promptIds":[1,2,)" << (3 + i % 5)
          << R"(],"responseIds":[)" << (4 + i % 7) << "," << (5 + i % 3) << ",6"
          << R"(],"behaviourLogprobs":[-3.4,-3.5,-3.3],"reward":)" << (i % 3 == 0 ? 1 : 0)
          << R"(,"groupId":"g)" << i / 4 << R"("})" << "\n";
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Args(const std::string& run, const std::string& extra = "") {
    return "learner offline --config " + std::string(MEMR1_SOURCE_DIR) + "/configs/tiny-cpu.yaml" +
           " --set model.path=" + (dir_ / "model").string() + " --set output_dir=" +
           (dir_ / run).string() +
           " --set learner.num_ranks=1 --set learner.global_batch_size=8"
           " --set learner.micro_batch_size=4 --set actor.sampling.group_size=4"
           " --set learner.checkpoint_every=2 --set learner.kl_coef=0.01"
           " --set learner.actor_lr=0.001 --trajectories " +
           (dir_ / "traj.jsonl").string() + " " + extra;
  }

  fs::path dir_;
};

TEST_F(LearnerCliTest, TrainsWritesMetricsAndHuggingFaceCheckpoints) {
  auto run = RunMemr1(Args("a", "--steps 3"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("step 3/3"), std::string::npos) << run.output;
  const std::string metrics = Slurp(dir_ / "a" / "metrics.jsonl");
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 3);
  for (const char* key : {"\"loss\"", "\"kl\"", "\"entropy\"", "\"clip_fraction\"",
                          "\"advantage_mean\"", "\"grad_norm\"", "\"lr\"", "\"tokens_per_second\""}) {
    EXPECT_NE(metrics.find(key), std::string::npos) << key;
  }
  const fs::path checkpoints = dir_ / "a" / "checkpoints";
  EXPECT_EQ(Slurp(checkpoints / "LATEST"), "step-00000003\n");
  EXPECT_TRUE(fs::exists(checkpoints / "step-00000002"));
  EXPECT_TRUE(fs::exists(checkpoints / "step-00000003" / "policy" / "config.json"));
  EXPECT_TRUE(fs::exists(checkpoints / "step-00000003" / "policy" / "model.safetensors"));
  // The saved policy loads back as a model.
  auto score = RunMemr1("model logprobs --model " +
                        (checkpoints / "step-00000003" / "policy").string() +
                        " --input /dev/null --output -");
  EXPECT_EQ(score.exit_code, 0) << score.output;
}

TEST_F(LearnerCliTest, ResumeEqualsUninterruptedBitwise) {
  ASSERT_EQ(RunMemr1(Args("straight", "--steps 4")).exit_code, 0);
  auto first = RunMemr1(Args("resumed", "--steps 2"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second = RunMemr1(Args("resumed", "--steps 4 --resume"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resumed from step 2"), std::string::npos) << second.output;
  const std::string a = Slurp(dir_ / "straight/checkpoints/step-00000004/policy/model.safetensors");
  const std::string b = Slurp(dir_ / "resumed/checkpoints/step-00000004/policy/model.safetensors");
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "resumed weights differ from the uninterrupted run";
  EXPECT_EQ(Slurp(dir_ / "straight/checkpoints/step-00000004/model.memr1t"),
            Slurp(dir_ / "resumed/checkpoints/step-00000004/model.memr1t"));
  // The rank files are not compared byte for byte: LibTorch 1.13's CPU generator does not
  // serialise a restored state to the same bytes (equivalent state, different padding fields).
  // Optimizer moments and RNG continuity are compared in optimizer_test.cc.
}

TEST_F(LearnerCliTest, CorruptCheckpointAndBadInputAreClearErrors) {
  ASSERT_EQ(RunMemr1(Args("c", "--steps 2")).exit_code, 0);
  const fs::path archive = dir_ / "c/checkpoints/step-00000002/rank-00000.memr1t";
  std::string bytes = Slurp(archive);
  bytes[bytes.size() - 5] ^= 0x10;
  std::ofstream(archive, std::ios::binary | std::ios::trunc) << bytes;
  auto resumed = RunMemr1(Args("c", "--steps 3 --resume"));
  EXPECT_EQ(resumed.exit_code, 1);
  EXPECT_NE(resumed.output.find("corrupt tensor archive"), std::string::npos) << resumed.output;
  EXPECT_NE(resumed.output.find("rank-00000.memr1t"), std::string::npos) << resumed.output;

  std::ofstream(dir_ / "traj.jsonl", std::ios::app) << R"({"responseIds":[1]})" << "\n";
  auto bad = RunMemr1(Args("d", "--steps 1"));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("traj.jsonl:13: behaviour_logprobs"), std::string::npos) << bad.output;

  auto ranks = RunMemr1(Args("e", "--steps 1 --set learner.num_ranks=2 --set learner.global_batch_size=16"));
  EXPECT_EQ(ranks.exit_code, 1);
  EXPECT_NE(ranks.output.find("mpirun -np 2"), std::string::npos) << ranks.output;
}

TEST(PlanCliTest, PaperConfigFitsAndOneGpuDoesNot) {
  const std::string config = std::string(MEMR1_SOURCE_DIR) + "/configs/qwen2.5-7b-grpo.yaml";
  auto fits = RunMemr1("plan --config " + config + " --gpus 8 --gpu-memory 80GiB");
  EXPECT_EQ(fits.exit_code, 0) << fits.output;
  EXPECT_NE(fits.output.find("fits:"), std::string::npos) << fits.output;
  EXPECT_NE(fits.output.find("policy Qwen2.5-7B-Instruct: 7.62B parameters"), std::string::npos)
      << fits.output;
  auto one = RunMemr1("plan --config " + config + " --gpus 1");
  EXPECT_EQ(one.exit_code, 1) << one.output;
  EXPECT_NE(one.output.find("does not fit"), std::string::npos) << one.output;
  EXPECT_NE(one.output.find("--gpus"), std::string::npos) << one.output;
  auto bad = RunMemr1("plan --config " + config + " --gpu-memory lots");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("'lots' is not a memory size"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace memr1::learner
