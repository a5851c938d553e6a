// `memr1 learner offline` in supervised mode, as a user runs it: a tokenizer and a tiny model
// made with `memr1 tokenizer train` and `memr1 model init`, LM pretraining on JSON-lines text
// (--text, --epochs), then SFT on demonstrations from the pretrained checkpoint; resume equals
// an uninterrupted run; demonstrations without log-probs are for SFT only.

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace memr1::learner {
namespace {

namespace fs = std::filesystem;
using memr1::testing::ReadTextFile;
using memr1::testing::RunMemr1;

std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

class SftCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::vector<std::string> names = {"Alice", "Bob", "Carol", "Dan"};
    const std::vector<std::string> cities = {"Paris", "Oslo", "Lima", "Kyoto"};
    std::ofstream corpus(dir_.Sub("corpus.txt"));
    std::ofstream text(dir_.Sub("text.jsonl"));
    for (int i = 0; i < 16; ++i) {
      const std::string line = names[i % 4] + " moved to " + cities[(i / 4) % 4] + " in week " +
                               std::to_string(i) + ". " + names[(i + 1) % 4] + " said hello.";
      corpus << line << "\n";
      text << nlohmann::json{{"text", line}}.dump() << "\n";
    }
    corpus.close();
    text.close();
    model_ = dir_.Sub("model");
    auto tokenizer = RunMemr1("tokenizer train --input " + dir_.Sub("corpus.txt") +
                              " --vocab-size 300 --output " + model_);
    ASSERT_EQ(tokenizer.exit_code, 0) << tokenizer.output;
    std::ofstream(dir_.Sub("tiny.json"))
        << R"({"vocab_size": 320, "hidden_size": 32, "intermediate_size": 64,
               "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
               "max_position_embeddings": 64})";
    auto init = RunMemr1("model init --arch qwen2 --seed 3 --config " + dir_.Sub("tiny.json") +
                         " --output " + model_);
    ASSERT_EQ(init.exit_code, 0) << init.output;
    // Demonstrations: no behaviour log-probs, no rewards.
    std::ofstream demos(dir_.Sub("demos.jsonl"));
    for (int i = 0; i < 8; ++i) {
      demos << R"({"id":"d)" << i << R"(","promptIds":[1,)" << (2 + i % 4) << R"(],"responseIds":[)"
            << (10 + i % 4) << "," << (20 + i % 4) << R"(,5]})"
            << "\n";
    }
  }

  std::string Args(const std::string& run, const std::string& model, const std::string& extra) {
    return "learner offline --config " + std::string(MEMR1_SOURCE_DIR) + "/configs/tiny-cpu.yaml" +
           " --set model.path=" + model + " --set output_dir=" + dir_.Sub(run) +
           " --set learner.algorithm=sft --set learner.num_ranks=1"
           " --set learner.global_batch_size=4 --set learner.micro_batch_size=2"
           " --set learner.actor_lr=0.003 " +
           extra;
  }

  memr1::testing::TempDir dir_{"memr1_sft_cli"};
  std::string model_;
};

TEST_F(SftCliTest, PretrainsOnTextThenFineTunesFromTheCheckpoint) {
  auto run =
      RunMemr1(Args("lm", model_, "--text " + dir_.Sub("text.jsonl") + " --seq-len 24 --epochs 3"));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  EXPECT_NE(run.output.find("text: 16 documents"), std::string::npos) << run.output;
  EXPECT_NE(run.output.find("sequences of at most 24 tokens"), std::string::npos) << run.output;
  const auto metrics = ReadJsonLines(dir_.Sub("lm/metrics.jsonl"));
  ASSERT_GE(metrics.size(), 3u);
  for (const auto& m : metrics) {
    for (const char* key :
         {"sft/loss", "sft/token_accuracy", "tokens", "grad_norm", "lr", "tokens_per_second"}) {
      EXPECT_TRUE(m.contains(key)) << key << " in " << m.dump();
    }
  }
  EXPECT_LT(metrics.back()["sft/loss"].get<double>(), metrics.front()["sft/loss"].get<double>());
  // --epochs 3 made the schedule span the run: learner.total_steps in the saved config.
  const std::string last = "step-" + std::string(8 - std::to_string(metrics.size()).size(), '0') +
                           std::to_string(metrics.size());
  const fs::path checkpoint = fs::path(dir_.Sub("lm/checkpoints")) / last;
  EXPECT_EQ(ReadTextFile(dir_.Sub("lm/checkpoints/LATEST")), last + "\n");
  EXPECT_NE(ReadTextFile((checkpoint / "config.yaml").string())
                .find("total_steps: " + std::to_string(metrics.size())),
            std::string::npos);
  // The policy is a Hugging Face directory with its tokenizer: `memr1 model logprobs` loads it.
  const fs::path policy = checkpoint / "policy";
  for (const char* file :
       {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}) {
    EXPECT_TRUE(fs::exists(policy / file)) << file;
  }
  std::ofstream(dir_.Sub("ids.jsonl")) << R"({"ids": [1, 2, 3, 4]})"
                                       << "\n";
  auto score = RunMemr1("model logprobs --model " + policy.string() + " --input " +
                        dir_.Sub("ids.jsonl") + " --output " + dir_.Sub("logprobs.jsonl"));
  ASSERT_EQ(score.exit_code, 0) << score.output;
  EXPECT_EQ(ReadJsonLines(dir_.Sub("logprobs.jsonl")).at(0)["logprobs"].size(), 3u);

  // The next stage starts from it: SFT on demonstrations without behaviour log-probs.
  auto sft = RunMemr1(
      Args("sft", policy.string(), "--trajectories " + dir_.Sub("demos.jsonl") + " --steps 2"));
  ASSERT_EQ(sft.exit_code, 0) << sft.output;
  EXPECT_NE(sft.output.find("step 2/2"), std::string::npos) << sft.output;
  EXPECT_TRUE(fs::exists(dir_.Sub("sft/checkpoints/step-00000002/policy/tokenizer.json")));
}

TEST_F(SftCliTest, ResumeEqualsUninterruptedAcrossEpochs) {
  // 16 documents at 16 tokens per sequence: more sequences than a batch, so the 6 steps cross
  // epoch boundaries (a fresh shuffle each) and the resumed run must continue the same order.
  const std::string common = "--text " + dir_.Sub("text.jsonl") +
                             " --seq-len 16 --set learner.lr_schedule=cosine"
                             " --set learner.total_steps=6 --set learner.warmup_steps=1 ";
  auto straight = RunMemr1(Args("straight", model_, common + "--steps 6"));
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  auto first = RunMemr1(Args("resumed", model_, common + "--steps 4"));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto second = RunMemr1(Args("resumed", model_, common + "--steps 6 --resume"));
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("resumed from step 4"), std::string::npos) << second.output;
  const std::string a =
      ReadTextFile(dir_.Sub("straight/checkpoints/step-00000006/policy/model.safetensors"));
  const std::string b =
      ReadTextFile(dir_.Sub("resumed/checkpoints/step-00000006/policy/model.safetensors"));
  ASSERT_FALSE(a.empty());
  EXPECT_TRUE(a == b) << "resumed weights differ from the uninterrupted run";
  const auto m1 = ReadJsonLines(dir_.Sub("straight/metrics.jsonl"));
  const auto m2 = ReadJsonLines(dir_.Sub("resumed/metrics.jsonl"));
  ASSERT_EQ(m1.size(), 6u);
  ASSERT_EQ(m2.size(), 6u);
  for (size_t i = 0; i < m1.size(); ++i) EXPECT_EQ(m1[i]["sft/loss"], m2[i]["sft/loss"]) << i;

  // Other data (here: another sequence length) cannot continue that checkpoint.
  auto other = RunMemr1(Args(
      "resumed", model_, "--text " + dir_.Sub("text.jsonl") + " --seq-len 20 --steps 8 --resume"));
  EXPECT_EQ(other.exit_code, 1);
  EXPECT_NE(other.output.find("examples"), std::string::npos) << other.output;
  EXPECT_NE(other.output.find("the same --seq-len"), std::string::npos) << other.output;
}

TEST_F(SftCliTest, DemonstrationsWithoutLogprobsAreRejectedForRlAndBadFlagsAreClear) {
  const std::string grpo = " --set learner.algorithm=grpo --set actor.sampling.group_size=4";
  auto rl = RunMemr1(
      Args("rl", model_, "--trajectories " + dir_.Sub("demos.jsonl") + " --steps 1" + grpo));
  EXPECT_EQ(rl.exit_code, 1) << rl.output;
  EXPECT_NE(rl.output.find("demos.jsonl:1: behaviour_logprobs is empty: PPO, GRPO and RLOO need"),
            std::string::npos)
      << rl.output;
  auto text_rl =
      RunMemr1(Args("rl", model_, "--text " + dir_.Sub("text.jsonl") + " --steps 1" + grpo));
  EXPECT_EQ(text_rl.exit_code, 1) << text_rl.output;
  EXPECT_NE(text_rl.output.find("--set learner.algorithm=sft"), std::string::npos)
      << text_rl.output;
  auto neither = RunMemr1(Args("x", model_, "--steps 1"));
  EXPECT_EQ(neither.exit_code, 1) << neither.output;
  EXPECT_NE(neither.output.find("exactly one of --trajectories and --text"), std::string::npos);
  auto both = RunMemr1(Args("x", model_, "--steps 1 --epochs 1 --text " + dir_.Sub("text.jsonl")));
  EXPECT_EQ(both.exit_code, 2) << both.output;
  auto too_long =
      RunMemr1(Args("x", model_, "--steps 1 --seq-len 100 --text " + dir_.Sub("text.jsonl")));
  EXPECT_EQ(too_long.exit_code, 1) << too_long.output;
  EXPECT_NE(too_long.output.find("--seq-len 100 exceeds the model's max_position_embeddings 64"),
            std::string::npos)
      << too_long.output;
  std::ofstream(dir_.Sub("bad.jsonl")) << R"({"text": "fine"})"
                                       << "\n"
                                       << R"({"texts": 1})"
                                       << "\n";
  auto bad = RunMemr1(Args("x", model_, "--steps 1 --text " + dir_.Sub("bad.jsonl")));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("bad.jsonl:2: needs \"text\""), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace memr1::learner
