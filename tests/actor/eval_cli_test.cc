// `memr1 eval` and `memr1 rollout` through the binary on a small synthetic world with a tiny
// random model. The model's answers are noise; what is checked is that every pipeline runs end
// to end, answers every selected question once, writes predictions that `memr1 score` accepts
// and a report whose counts match, reuses its banks on a second run, and that rollouts make
// trajectories the learner trains on.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "actor/dataset.h"
#include "actor/turns.h"
#include "tests/actor/actor_testing.h"
#include "tests/actor/tiny_model.h"
#include "tests/testing/files.h"
#include "tests/testing/process.h"

namespace memr1::actor {
namespace {

using ::memr1::testing::ReadJsonLines;
using ::memr1::testing::ReadTextFile;
using ::memr1::testing::RunMemr1;

class EvalCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    world_ = dir_->Sub("world.json");
    // 3 conversations (train / validation / test), 2 sessions of 6 turns, 5 questions each.
    const auto synth = RunMemr1(absl::StrCat("data synth --seed 3 --conversations 3 --sessions 2 ",
                                             "--turns 6 --questions 5 --output ", world_));
    ASSERT_EQ(synth.exit_code, 0) << synth.output;
    auto dataset = LoadDataset(DatasetKind::kSynthetic, world_);
    ASSERT_TRUE(dataset.ok()) << dataset.status();
    std::vector<std::string> corpus;
    for (const Conversation& conversation : dataset->conversations) {
      for (const TurnContext& turn : FlattenTurns(conversation)) corpus.push_back(turn.text);
      for (const QaItem& qa : conversation.qa) corpus.push_back(qa.question + " " + qa.answer);
    }
    model_ = dir_->Sub("model");
    const absl::Status written = testing::WriteTinyModel(model_, corpus, /*seed=*/5);
    ASSERT_TRUE(written.ok()) << written;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // A job config over the world and the model, with `extra` YAML appended.
  std::string WriteConfig(const std::string& name, const std::string& extra = "") {
    const std::string path = dir_->Sub(name + ".yaml");
    std::ofstream(path) << "name: evaltest\n"
                        << "output_dir: " << dir_->Sub(name) << "\n"
                        << "seed: 7\n"
                        << "model:\n  path: " << model_ << "\n"
                        << "data:\n  dataset: synthetic\n  path: " << world_ << "\n"
                        << "  train_conversations: 1\n  validation_conversations: 1\n"
                        << "  test_conversations: 1\n"
                        << "actor:\n  sampling:\n    max_prompt_tokens: 1536\n"
                        << "    max_response_tokens: 12\n"
                        << "  memory_manager:\n    retrieve_k: 3\n    fact_extraction: identity\n"
                        << "  answer_agent:\n    per_speaker_k: 4\n"
                        << "eval:\n  limit: 4\n"
                        << extra;
    return path;
  }

  // Runs `memr1 eval` and checks the files of a run that answered `questions` questions.
  void ExpectCompleteRun(const std::string& args, const std::string& output_dir, int questions) {
    const auto run = RunMemr1("eval " + args);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    const std::vector<nlohmann::json> predictions =
        ReadJsonLines(output_dir + "/predictions.jsonl");
    ASSERT_EQ(predictions.size(), static_cast<size_t>(questions)) << run.output;
    std::set<std::string> ids;
    for (const nlohmann::json& line : predictions) {
      for (const char* field :
           {"id", "conversation_id", "question", "gold", "prediction", "output", "parsed",
            "memories", "selected_ids", "em", "f1", "f1_locomo", "bleu1", "category"}) {
        EXPECT_TRUE(line.contains(field)) << field << " missing in " << line.dump();
      }
      ids.insert(line["id"].get<std::string>());
    }
    EXPECT_EQ(ids.size(), predictions.size()) << "a question was answered twice";
    const nlohmann::json report = nlohmann::json::parse(ReadTextFile(output_dir + "/report.json"));
    ASSERT_TRUE(report.is_array() && !report.empty()) << report.dump();
    const nlohmann::json& overall = report.back();
    EXPECT_EQ(overall["category"], "overall");
    EXPECT_EQ(overall["count"].get<int>(), questions) << report.dump();
    EXPECT_NE(ReadTextFile(output_dir + "/report.md").find("| all | overall |"), std::string::npos);
    EXPECT_FALSE(ReadTextFile(output_dir + "/report.csv").empty());
    // The predictions are in `memr1 score`'s input format.
    const auto score = RunMemr1("score --input " + output_dir + "/predictions.jsonl");
    EXPECT_EQ(score.exit_code, 0) << score.output;
    last_output_ = run.output;
  }

  static testing::TempDir* dir_;
  static std::string world_;
  static std::string model_;
  std::string last_output_;
};

testing::TempDir* EvalCliTest::dir_ = nullptr;
std::string EvalCliTest::world_;
std::string EvalCliTest::model_;

TEST_F(EvalCliTest, MemoryR1PipelineWritesPredictionsAndReusesBanks) {
  const std::string config = WriteConfig("mr1", "  judge_enabled: false\n");
  const std::string out = dir_->Sub("mr1-out");
  ExpectCompleteRun("--config " + config + " --output " + out, out, 4);
  EXPECT_NE(last_output_.find("banks: 0 reused"), std::string::npos) << last_output_;
  EXPECT_NE(last_output_.find("questions: 4/4"), std::string::npos) << last_output_;
  // Same config again: the banks are in the job's memstore already.
  ExpectCompleteRun("--config " + config + " --output " + out, out, 4);
  EXPECT_NE(last_output_.find("banks: 1 reused; 0 turns processed"), std::string::npos)
      << last_output_;
}

TEST_F(EvalCliTest, EveryBaselineRuns) {
  for (const std::string pipeline : {"full_context", "locomo_rag", "add_only", "mem0"}) {
    SCOPED_TRACE(pipeline);
    const std::string config = WriteConfig("base-" + pipeline);
    const std::string out = dir_->Sub("base-" + pipeline + "/eval/" + pipeline + "-validation");
    ExpectCompleteRun(
        "--config " + config + " --pipeline " + pipeline + " --split validation --limit 3", out, 3);
  }
}

TEST_F(EvalCliTest, LlmExtractionAndSmallPromptBudget) {
  // The model's extraction output is noise: failures are counted, nothing crashes; a small
  // prompt budget makes the Answer Agent leave memories out.
  const std::string path = WriteConfig("llm");
  const std::string out = dir_->Sub("llm-out");
  ExpectCompleteRun("--config " + path + " --set actor.memory_manager.fact_extraction=llm " +
                        "--set actor.sampling.max_prompt_tokens=700 --output " + out,
                    out, 4);
  EXPECT_NE(last_output_.find("extraction failures"), std::string::npos) << last_output_;
}

// `memr1 rollout` writes GRPO groups of trajectories that `memr1 learner offline` trains on,
// for both stages; the same seed gives the same trajectories.
TEST_F(EvalCliTest, RolloutTrajectoriesTrainTheLearner) {
  const std::string config = WriteConfig("roll");
  const std::string learner_flags =
      " --set actor.sampling.group_size=4 --set learner.global_batch_size=8"
      " --set learner.micro_batch_size=4 --set learner.num_ranks=1";
  for (const std::string agent : {"memory_manager", "answer_agent"}) {
    SCOPED_TRACE(agent);
    const std::string flags = learner_flags + " --set actor.train_agent=" + agent;
    const std::string out = dir_->Sub("roll-" + agent + ".jsonl");
    const auto run =
        RunMemr1("rollout --config " + config + flags + " --episodes 2 --output " + out);
    ASSERT_EQ(run.exit_code, 0) << run.output;
    EXPECT_NE(run.output.find(agent + ": 2 episodes"), std::string::npos) << run.output;
    const std::vector<nlohmann::json> lines = ReadJsonLines(out);
    ASSERT_EQ(lines.size(), 8u) << run.output;
    std::set<std::string> groups;
    for (const nlohmann::json& t : lines) {
      groups.insert(t["group_id"].get<std::string>());
      EXPECT_EQ(t["agent"], agent == "memory_manager" ? "AGENT_KIND_MEMORY_MANAGER"
                                                      : "AGENT_KIND_ANSWER_AGENT");
      EXPECT_EQ(t["response_ids"].size(), t["behaviour_logprobs"].size());
      EXPECT_FALSE(t["prompt_ids"].empty());
    }
    EXPECT_EQ(groups.size(), 2u);

    // Same seed, same trajectories (ids aside).
    const std::string again = dir_->Sub("roll-" + agent + "-again.jsonl");
    ASSERT_EQ(RunMemr1("rollout --config " + config + flags + " --episodes 2 --output " + again)
                  .exit_code,
              0);
    const std::vector<nlohmann::json> second = ReadJsonLines(again);
    ASSERT_EQ(second.size(), lines.size());
    for (size_t i = 0; i < lines.size(); ++i) {
      EXPECT_EQ(second[i]["response_ids"], lines[i]["response_ids"]) << i;
      EXPECT_EQ(second[i]["group_id"], lines[i]["group_id"]) << i;
      EXPECT_EQ(second[i].value("reward", 0.0), lines[i].value("reward", 0.0)) << i;
    }

    const auto train = RunMemr1("learner offline --config " + config + flags +
                                " --set output_dir=" + dir_->Sub("learn-" + agent) +
                                " --trajectories " + out + " --steps 1");
    ASSERT_EQ(train.exit_code, 0) << train.output;
    EXPECT_NE(train.output.find("step 1/1"), std::string::npos) << train.output;
  }
}

TEST_F(EvalCliTest, BadInputFailsWithClearErrors) {
  const std::string config = WriteConfig("bad");
  auto run = RunMemr1("eval --config " + config + " --pipeline nonsense");
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("pipeline"), std::string::npos) << run.output;

  run = RunMemr1("eval --config " + config + " --set model.path=" + dir_->Sub("no-such-model"));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("no-such-model"), std::string::npos) << run.output;

  run = RunMemr1("eval --config " + config + " --set data.path=" + dir_->Sub("missing.json"));
  EXPECT_NE(run.exit_code, 0);
  EXPECT_NE(run.output.find("missing.json"), std::string::npos) << run.output;
}

}  // namespace
}  // namespace memr1::actor
