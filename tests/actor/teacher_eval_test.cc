// The scripted teacher end to end, in process, on a real memstore (the evaluation's own server
// on 127.0.0.1): `memr1 eval`'s RunEvaluation with the teacher as both agents against the
// ADD-only baseline on a generated synthetic world, and `memr1 rollout`'s RunRollouts writing
// demonstration trajectories whose ids are the model tokenizer's.

#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actor/dataset.h"
#include "actor/evaluation.h"
#include "actor/locomo.h"
#include "actor/rollout.h"
#include "actor/synthetic_world.h"
#include "actor/turns.h"
#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "tests/testing/files.h"

namespace memr1::actor {
namespace {

using ::memr1::testing::TempDir;

class TeacherEvalTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    // 8 conversations: 2 train, 1 validation, 5 test.
    SyntheticWorldOptions options;
    options.seed = 2026;
    options.conversations = 8;
    options.sessions_per_conversation = 6;
    options.turns_per_session = 10;
    options.questions_per_conversation = 30;
    absl::StatusOr<Dataset> world = GenerateSyntheticWorld(options);
    ASSERT_TRUE(world.ok()) << world.status();
    world_ = dir_->Sub("world.json");
    ASSERT_TRUE(WriteLocomo(*world, world_).ok());
    // A tokenizer of the world's text (as the quickstart trains one).
    std::vector<std::string> corpus;
    for (const Conversation& conversation : world->conversations) {
      for (const TurnContext& turn : FlattenTurns(conversation)) corpus.push_back(turn.text);
    }
    llm::BpeTrainerOptions tokenizer_options;
    tokenizer_options.vocab_size = 400;
    tokenizer_options.min_frequency = 1;
    absl::StatusOr<llm::TrainedTokenizer> trained = llm::TrainBpe(corpus, tokenizer_options);
    ASSERT_TRUE(trained.ok()) << trained.status();
    tokenizer_ = dir_->Sub("tokenizer");
    ASSERT_TRUE(llm::WriteTrainedTokenizer(*trained, tokenizer_).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static v1::JobConfig Job(const std::string& name, v1::EvalConfig::Pipeline pipeline,
                           v1::MemoryManagerConfig::FactExtraction extraction) {
    v1::JobConfig job;
    job.set_name("teacher");
    job.set_output_dir(dir_->Sub(name));
    job.set_seed(3);
    v1::DataConfig* data = job.mutable_data();
    data->set_dataset(v1::DataConfig::SYNTHETIC);
    data->set_path(world_);
    data->set_train_conversations(2);
    data->set_validation_conversations(1);
    data->set_test_conversations(5);
    v1::ActorConfig* actor = job.mutable_actor();
    actor->mutable_memory_manager()->set_fact_extraction(extraction);
    actor->mutable_memory_manager()->mutable_policy()->set_backend(v1::PolicyConfig::TEACHER);
    actor->mutable_answer_agent()->mutable_policy()->set_backend(v1::PolicyConfig::TEACHER);
    job.mutable_eval()->set_pipeline(pipeline);
    return job;
  }

  // EM by category (0 = overall) of an evaluation run.
  static std::map<int, double> Evaluate(const v1::JobConfig& job) {
    absl::StatusOr<EvalSummary> summary = RunEvaluation(job, EvalRunOptions());
    EXPECT_TRUE(summary.ok()) << summary.status();
    std::map<int, double> em;
    if (!summary.ok()) return em;
    std::cout << summary->pipeline << " ("
              << v1::MemoryManagerConfig::FactExtraction_Name(
                     job.actor().memory_manager().fact_extraction())
              << " extraction):\n"
              << summary->report.ToMarkdown(summary->naming) << "\n";
    EXPECT_EQ(summary->answer_format_failures, 0);
    EXPECT_EQ(summary->bank_stats.manager_failures, 0);
    EXPECT_EQ(summary->bank_stats.extraction_failures, 0);
    for (const eval::ScoreReport::Row& row : summary->report.Rows(summary->naming)) {
      em[row.category.value_or(0)] = row.em;
    }
    return em;
  }

  static TempDir* dir_;
  static std::string world_;
  static std::string tokenizer_;
};

TempDir* TeacherEvalTest::dir_ = nullptr;
std::string TeacherEvalTest::world_;
std::string TeacherEvalTest::tokenizer_;

// The teacher's banks answer every question kind of the world: EM 1 in every category. ADD-only
// banks (every fact kept, nothing merged) lose where the Answer Agent's view of a person (the
// top memories per speaker) no longer holds the deciding statements.
TEST_F(TeacherEvalTest, TeacherPipelineAnswersEveryCategoryAndBeatsAddOnly) {
  const std::map<int, double> teacher =
      Evaluate(Job("teacher-llm", v1::EvalConfig::MEMORY_R1, v1::MemoryManagerConfig::LLM));
  const std::map<int, double> add_only =
      Evaluate(Job("addonly-llm", v1::EvalConfig::ADD_ONLY, v1::MemoryManagerConfig::LLM));
  ASSERT_EQ(teacher.size(), 5u);  // four categories and overall
  for (const auto& [category, em] : teacher) EXPECT_EQ(em, 1.0) << "category " << category;
  EXPECT_GT(teacher.at(0), add_only.at(0));
}

// With the identity extractor (each turn is its fact) the teacher manager reads the turns
// itself; ADD-only banks then also hold every small-talk turn.
TEST_F(TeacherEvalTest, IdentityExtractionGivesTheSameBanksQuality) {
  const std::map<int, double> teacher = Evaluate(
      Job("teacher-identity", v1::EvalConfig::MEMORY_R1, v1::MemoryManagerConfig::IDENTITY));
  const std::map<int, double> add_only = Evaluate(
      Job("addonly-identity", v1::EvalConfig::ADD_ONLY, v1::MemoryManagerConfig::IDENTITY));
  for (const auto& [category, em] : teacher) EXPECT_EQ(em, 1.0) << "category " << category;
  EXPECT_GT(teacher.at(0), add_only.at(0));
}

// `memr1 rollout` with the teacher and group_size 1: one demonstration per episode, token ids
// in the tokenizer's vocabulary that decode to the prompt and the teacher's completion.
TEST_F(TeacherEvalTest, RolloutWritesDemonstrationsInTheTokenizersIds) {
  absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tokenizer = llm::Tokenizer::Load(tokenizer_);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  for (const auto agent : {v1::ActorConfig::MEMORY_MANAGER, v1::ActorConfig::ANSWER_AGENT}) {
    v1::JobConfig job = Job(absl::StrCat("rollout-", agent), v1::EvalConfig::MEMORY_R1,
                            v1::MemoryManagerConfig::LLM);
    job.mutable_tokenizer()->set_path(tokenizer_);
    job.mutable_actor()->set_train_agent(agent);
    job.mutable_actor()->mutable_sampling()->set_group_size(1);
    RolloutOptions options;
    options.episodes = 6;
    absl::StatusOr<RolloutSummary> summary = RunRollouts(job, options);
    ASSERT_TRUE(summary.ok()) << summary.status();
    ASSERT_EQ(summary->trajectories.size(), 6u);
    EXPECT_EQ(summary->mean_reward, 1.0) << "the teacher's own demonstrations score fully";
    EXPECT_TRUE(summary->format_failures.empty());
    for (const v1::Trajectory& trajectory : summary->trajectories) {
      ASSERT_GT(trajectory.prompt_ids_size(), 0);
      ASSERT_GT(trajectory.response_ids_size(), 1);
      EXPECT_EQ(trajectory.behaviour_logprobs_size(), trajectory.response_ids_size());
      for (int32_t id : trajectory.response_ids()) {
        EXPECT_GE(id, 0);
        EXPECT_LT(id, (*tokenizer)->vocab_size());
      }
      const std::vector<int32_t> response(trajectory.response_ids().begin(),
                                          trajectory.response_ids().end() - 1);
      absl::StatusOr<std::string> text = (*tokenizer)->Decode(response, false);
      ASSERT_TRUE(text.ok());
      if (agent == v1::ActorConfig::MEMORY_MANAGER) {
        EXPECT_EQ(text->rfind("{\"memory\":[", 0), 0u) << *text;
      } else {
        EXPECT_NE(text->find("**Answer:** "), std::string::npos) << *text;
      }
      absl::StatusOr<std::string> prompt = (*tokenizer)->Decode(
          std::vector<int32_t>(trajectory.prompt_ids().begin(), trajectory.prompt_ids().end()),
          false);
      ASSERT_TRUE(prompt.ok());
      EXPECT_NE(prompt->find(agent == v1::ActorConfig::MEMORY_MANAGER ? "New facts from"
                                                                         : "Question: "),
                std::string::npos);
    }
  }
}

// bank_demos: every bank-building manager call (one per turn of each train conversation) comes
// first as a demonstration, including the turns that change nothing; a second rollout into the
// same output_dir finds the banks cached and refuses instead of writing no demonstrations.
TEST_F(TeacherEvalTest, BankDemosRecordEveryTurnsDecision) {
  v1::JobConfig job = Job("rollout-bank-demos", v1::EvalConfig::MEMORY_R1,
                          v1::MemoryManagerConfig::IDENTITY);
  job.mutable_tokenizer()->set_path(tokenizer_);
  job.mutable_actor()->set_train_agent(v1::ActorConfig::MEMORY_MANAGER);
  job.mutable_actor()->mutable_sampling()->set_group_size(1);
  absl::StatusOr<Dataset> dataset = LoadDataset(job.data());
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  absl::StatusOr<DatasetSplits> splits = SplitDataset(*dataset, SplitSpecFrom(job.data()));
  ASSERT_TRUE(splits.ok()) << splits.status();
  size_t turns = 0;
  for (const Conversation* conversation : splits->train) {
    turns += FlattenTurns(*conversation).size();
  }
  ASSERT_GT(turns, 0u);

  RolloutOptions options;
  options.episodes = 3;
  options.bank_demos = true;
  absl::StatusOr<RolloutSummary> summary = RunRollouts(job, options);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->bank_demos, static_cast<int64_t>(turns));
  ASSERT_EQ(summary->trajectories.size(), turns + 3);
  EXPECT_EQ(summary->mean_reward, 1.0) << "the episodes' mean, not diluted by the bank demos";
  absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tokenizer = llm::Tokenizer::Load(tokenizer_);
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  int empty_decisions = 0;
  for (size_t i = 0; i < turns; ++i) {
    const v1::Trajectory& trajectory = summary->trajectories[i];
    EXPECT_EQ(trajectory.agent(), v1::AGENT_KIND_MEMORY_MANAGER);
    EXPECT_EQ(trajectory.episode().annotations().at("source"), "bank building");
    const std::vector<int32_t> response(trajectory.response_ids().begin(),
                                        trajectory.response_ids().end() - 1);
    absl::StatusOr<std::string> text = (*tokenizer)->Decode(response, false);
    ASSERT_TRUE(text.ok());
    EXPECT_EQ(text->rfind("{\"memory\":[", 0), 0u) << *text;
    if (*text == "{\"memory\":[]}") ++empty_decisions;
  }
  EXPECT_GT(empty_decisions, 0) << "small-talk turns are demonstrated too";

  absl::StatusOr<RolloutSummary> again = RunRollouts(job, options);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(again.status())) << again.status();
  EXPECT_NE(again.status().message().find("cached"), std::string::npos) << again.status();

  job.mutable_actor()->set_train_agent(v1::ActorConfig::ANSWER_AGENT);
  job.set_output_dir(job.output_dir() + "-answer");
  absl::StatusOr<RolloutSummary> answer = RunRollouts(job, options);
  EXPECT_TRUE(absl::IsInvalidArgument(answer.status())) << answer.status();
}

}  // namespace
}  // namespace memr1::actor
