// learner.algorithm SFT in one process: the masked cross-entropy (what counts and what is
// context), that it learns a small demonstration set, validation of demonstrations without
// behaviour log-probs, text packing and the seeded epoch order.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "learner/sft.h"
#include "learner/sft_data.h"
#include "learner/trajectory_io.h"
#include "llm/scoring.h"
#include "tests/learner/sft_fixture.h"
#include "tests/testing/files.h"

namespace memr1::learner {
namespace {

using testing::Demo;
using testing::Flatten;
using ::testing::HasSubstr;
using testing::MakeSftTrainer;

std::vector<int> Ids(const v1::Trajectory& t, bool prompt) {
  const auto& field = prompt ? t.prompt_ids() : t.response_ids();
  return std::vector<int>(field.begin(), field.end());
}

TEST(SupervisedLossTest, IsTheMaskedTokenMeanOfTheNegativeLogLikelihood) {
  const at::Tensor logits =
      at::tensor({0.f, 2.f, 0.f, 1.f, 0.f, 0.f, 3.f, 0.f, 1.f}).view({1, 3, 3});
  const at::Tensor targets = at::tensor(std::vector<int64_t>{1, 2, 0}).view({1, 3});
  const at::Tensor mask = at::tensor({1.f, 1.f, 0.f}).view({1, 3});
  const SupervisedLossResult r = SupervisedLoss(logits, targets, mask, 0);
  const at::Tensor logp = at::log_softmax(logits, -1);
  const double expected = -(logp[0][0][1].item<double>() + logp[0][1][2].item<double>()) / 2;
  EXPECT_NEAR(r.loss.item<double>(), expected, 1e-6);
  EXPECT_NEAR(r.nll_sum, 2 * expected, 1e-6);
  EXPECT_EQ(r.tokens, 2);
  EXPECT_EQ(r.correct, 1);  // position 0 predicts 1 (right), position 1 predicts 0 (wrong)
  // A global denominator divides the sum instead of the local count.
  EXPECT_NEAR(SupervisedLoss(logits, targets, mask, 8).loss.item<double>(), 2 * expected / 8, 1e-6);
}

// The trainer's SFT loss is -mean log p(trained response token | everything before it),
// exactly what the decoder scores for the whole sequence: the prompt tokens' own targets are
// not in it, and a masked response token counts as context only.
TEST(SftTrainerTest, LossIsTheResponseNllOfTheWholeSequence) {
  SingleProcessCommunicator single;
  auto trainer = MakeSftTrainer(&single, 2, 1);
  ASSERT_NE(trainer, nullptr);
  const std::vector<v1::Trajectory> batch = {Demo("a", {1, 2, 3}, {4, 5, 6, 7}, {1, 0, 1, 1}),
                                             Demo("b", {9}, {10, 11})};
  double nll = 0, tokens = 0;
  for (const auto& t : batch) {
    std::vector<int64_t> seq;
    for (int id : Ids(t, true)) seq.push_back(id);
    for (int id : Ids(t, false)) seq.push_back(id);
    auto scores = llm::ScoreSequences(trainer->policy(), {seq});
    ASSERT_TRUE(scores.ok()) << scores.status();
    const int p = t.prompt_ids_size();
    for (int k = 0; k < t.response_ids_size(); ++k) {
      if (t.loss_mask_size() > 0 && t.loss_mask(k) == 0) continue;
      nll -= (*scores)[0].logprobs[p - 1 + k];
      tokens += 1;
    }
  }
  auto m = trainer->Step(batch);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->supervised);
  EXPECT_EQ(m->tokens, 5);
  EXPECT_NEAR(m->loss, nll / tokens, 1e-5);
  EXPECT_GT(m->grad_norm, 0);
}

// Moving tokens from the prompt into the response with loss_mask 0 changes nothing; changing
// the target of a masked token changes nothing; changing a trained response token does.
TEST(SftTrainerTest, PromptAndMaskedTokensAreContextOnly) {
  SingleProcessCommunicator single;
  auto step = [&](const std::vector<v1::Trajectory>& batch) {
    auto trainer = MakeSftTrainer(&single, 2, 2);
    auto m = trainer->Step(batch);
    EXPECT_TRUE(m.ok()) << m.status();
    return std::make_pair(*m, Flatten(*trainer));
  };
  const auto [prompted, prompted_params] =
      step({Demo("a", {1, 2, 3, 4}, {5, 6, 7}), Demo("b", {8, 9}, {10, 11, 12})});
  const auto [masked, masked_params] = step({Demo("a", {1, 2}, {3, 4, 5, 6, 7}, {0, 0, 1, 1, 1}),
                                             Demo("b", {8}, {9, 10, 11, 12}, {0, 1, 1, 1})});
  EXPECT_NEAR(prompted.loss, masked.loss, 1e-6);
  EXPECT_NEAR(prompted.grad_norm, masked.grad_norm, 1e-5);
  EXPECT_NEAR(prompted.token_accuracy, masked.token_accuracy, 1e-9);
  EXPECT_TRUE(at::allclose(prompted_params, masked_params, 1e-6, 1e-6))
      << (prompted_params - masked_params).abs().max();

  // A masked last token is predicted by nothing that counts: its value does not matter.
  const auto [tail_a, tail_a_params] =
      step({Demo("a", {1, 2}, {3, 4, 5}, {1, 1, 0}), Demo("b", {8}, {9, 10, 11}, {1, 1, 0})});
  const auto [tail_b, tail_b_params] =
      step({Demo("a", {1, 2}, {3, 4, 20}, {1, 1, 0}), Demo("b", {8}, {9, 10, 2}, {1, 1, 0})});
  EXPECT_EQ(tail_a.loss, tail_b.loss);
  EXPECT_EQ(tail_a.grad_norm, tail_b.grad_norm);
  EXPECT_TRUE(at::equal(tail_a_params, tail_b_params));

  // A trained response token does matter.
  const auto [changed, changed_params] =
      step({Demo("a", {1, 2, 3, 4}, {5, 6, 13}), Demo("b", {8, 9}, {10, 11, 12})});
  EXPECT_GT(std::abs(changed.loss - prompted.loss), 1e-3);
  EXPECT_FALSE(at::allclose(changed_params, prompted_params, 1e-6, 1e-6));
}

// A learnable problem: 8 prompts, each with its own fixed 5-token answer drawn from a shared
// alphabet (so an answer token must be predicted from the prompt, not from the token before).
// The loss falls to near zero and greedy token accuracy reaches 1 within a bounded number of
// steps.
TEST(SftTrainerTest, LearnsARepeatedDemonstrationSet) {
  SingleProcessCommunicator single;
  auto trainer = MakeSftTrainer(&single, 8, 4, {"learner.actor_lr=0.01"});
  ASSERT_NE(trainer, nullptr);
  std::vector<v1::Trajectory> batch;
  for (int k = 0; k < 8; ++k) {
    std::vector<int> answer;
    for (int j = 0; j < 5; ++j) answer.push_back(3 + (k * 5 + j * 7) % 20);
    batch.push_back(Demo("d" + std::to_string(k), {1, 2 + k}, answer));
  }
  constexpr int kMaxSteps = 200;
  double first_loss = 0, loss = 0, accuracy = 0;
  int steps = 0;
  while (steps < kMaxSteps && (accuracy < 1.0 || loss > 0.05)) {
    auto m = trainer->Step(batch);
    ASSERT_TRUE(m.ok()) << m.status();
    if (steps == 0) first_loss = m->loss;
    loss = m->loss;
    accuracy = m->token_accuracy;
    ++steps;
  }
  std::cout << "SFT: token accuracy " << accuracy << " and loss " << first_loss << " -> " << loss
            << " after " << steps << " steps\n";
  EXPECT_EQ(accuracy, 1.0) << "not learnt in " << kMaxSteps << " steps";
  EXPECT_LE(loss, 0.05) << "not learnt in " << kMaxSteps << " steps";
  EXPECT_GT(first_loss, 2.0);  // it started from not knowing (ln 24 = 3.2)
}

TEST(SftTrainerTest, DemonstrationsWithoutBehaviourLogprobsAreForSftOnly) {
  SingleProcessCommunicator single;
  const std::vector<v1::Trajectory> batch = {Demo("d0", {1, 2}, {3, 4}), Demo("d1", {1}, {5})};
  auto sft = MakeSftTrainer(&single, 2, 1, {"learner.kl_coef=0.05"});  // KL does not apply
  ASSERT_NE(sft, nullptr);
  EXPECT_TRUE(sft->Step(batch).ok());

  auto grpo = MakeSftTrainer(
      &single, 2, 1,
      {"learner.algorithm=grpo", "actor.sampling.group_size=2", "learner.kl_coef=0"});
  ASSERT_NE(grpo, nullptr);
  auto rejected = grpo->Step(batch);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rejected.status().message()),
              HasSubstr("trajectory 0 (id 'd0'): behaviour_logprobs is empty: PPO, GRPO and RLOO "
                        "need the sampling log-prob"));

  // Present behaviour log-probs are still checked for SFT.
  v1::Trajectory partial = Demo("p", {1}, {2, 3});
  partial.add_behaviour_logprobs(-1);
  EXPECT_THAT(std::string(ValidateTrajectory(partial, 0, BehaviourLogprobs::kOptional).message()),
              HasSubstr("behaviour_logprobs has 1 entries, expected 2"));
  EXPECT_TRUE(ValidateTrajectory(Demo("q", {1}, {2}), 0, BehaviourLogprobs::kOptional).ok());
  // An empty prompt has no position to predict the first response token from.
  auto empty_prompt = sft->Step({Demo("e", {}, {3, 4}), Demo("f", {1}, {5})});
  ASSERT_FALSE(empty_prompt.ok());
  EXPECT_THAT(std::string(empty_prompt.status().message()),
              HasSubstr("trajectory 0 (id 'e'): prompt_ids is empty"));
}

TEST(SftMetricsTest, SupervisedStepsWriteTheirOwnFields) {
  StepMetrics m;
  m.supervised = true;
  m.step = 3;
  m.loss = 1.5;
  m.token_accuracy = 0.25;
  m.tokens = 40;
  const auto json = nlohmann::json::parse(m.ToJson());
  EXPECT_EQ(json.at("sft/loss"), 1.5);
  EXPECT_EQ(json.at("sft/token_accuracy"), 0.25);
  EXPECT_EQ(json.at("loss"), 1.5);
  EXPECT_EQ(json.at("tokens"), 40);
  for (const char* key : {"grad_norm", "lr", "tokens_per_second", "step"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_FALSE(json.contains("reward_mean"));
  EXPECT_FALSE(nlohmann::json::parse(StepMetrics{}.ToJson()).contains("sft/loss"));
}

TEST(PackDocumentsTest, ExactSequencesWithoutBos) {
  PackOptions options;
  options.max_tokens = 4;
  options.eos_id = 2;
  // Stream: 2 | 10 11 12 2 | 13 2 | 14 15 2   (a leading EOS as the first context).
  auto packed = PackDocuments({{10, 11, 12}, {13}, {14, 15}}, options);
  ASSERT_TRUE(packed.ok()) << packed.status();
  ASSERT_EQ(packed->size(), 3u);
  const std::vector<std::vector<int>> prompts = {{2}, {12}, {2}};
  const std::vector<std::vector<int>> responses = {{10, 11, 12}, {2, 13, 2}, {14, 15, 2}};
  for (size_t k = 0; k < packed->size(); ++k) {
    const v1::Trajectory& t = (*packed)[k];
    EXPECT_EQ(t.id(), "text-" + std::to_string(k));
    EXPECT_EQ(Ids(t, true), prompts[k]) << k;
    EXPECT_EQ(Ids(t, false), responses[k]) << k;
    EXPECT_EQ(t.loss_mask_size(), 0);
    EXPECT_EQ(t.behaviour_logprobs_size(), 0);
    EXPECT_TRUE(ValidateTrajectory(t, 16, BehaviourLogprobs::kOptional).ok());
  }
}

TEST(PackDocumentsTest, ExactSequencesWithBosAndEveryTokenTrainedOnce) {
  PackOptions options;
  options.max_tokens = 4;
  options.bos_id = 1;
  options.eos_id = 2;
  // Stream: 1 10 11 12 2 1 13 2 1 14 15 2.
  auto packed = PackDocuments({{10, 11, 12}, {13}, {14, 15}}, options);
  ASSERT_TRUE(packed.ok()) << packed.status();
  ASSERT_EQ(packed->size(), 4u);
  EXPECT_EQ(Ids((*packed)[0], true), std::vector<int>({1}));
  EXPECT_EQ(Ids((*packed)[0], false), std::vector<int>({10, 11, 12}));
  EXPECT_EQ(Ids((*packed)[1], true), std::vector<int>({12}));
  EXPECT_EQ(Ids((*packed)[1], false), std::vector<int>({2, 1, 13}));
  EXPECT_EQ(Ids((*packed)[2], true), std::vector<int>({13}));
  EXPECT_EQ(Ids((*packed)[2], false), std::vector<int>({2, 1, 14}));
  EXPECT_EQ(Ids((*packed)[3], true), std::vector<int>({14}));
  EXPECT_EQ(Ids((*packed)[3], false), std::vector<int>({15, 2}));

  // For any length, the responses concatenated are the stream after its first token.
  const std::vector<int> stream = {1, 10, 11, 12, 2, 1, 13, 2, 1, 14, 15, 2};
  for (int64_t n : {2, 3, 5, 11, 12, 100}) {
    options.max_tokens = n;
    auto p = PackDocuments({{10, 11, 12}, {13}, {14, 15}}, options);
    ASSERT_TRUE(p.ok());
    std::vector<int> all;
    for (const auto& t : *p) {
      EXPECT_LE(t.prompt_ids_size() + t.response_ids_size(), n);
      EXPECT_EQ(t.prompt_ids_size(), 1);
      for (int id : t.response_ids()) all.push_back(id);
    }
    EXPECT_EQ(all, std::vector<int>(stream.begin() + 1, stream.end())) << n;
  }
}

TEST(PackDocumentsTest, BadOptionsAreErrors) {
  PackOptions options;
  options.eos_id = 2;
  options.max_tokens = 1;
  EXPECT_THAT(std::string(PackDocuments({{5}}, options).status().message()),
              HasSubstr("sequence length 1 is below 2"));
  options.max_tokens = 8;
  EXPECT_FALSE(PackDocuments({}, options).ok());
  options.eos_id = -1;
  EXPECT_THAT(std::string(PackDocuments({{5}}, options).status().message()),
              HasSubstr("needs an eos token"));
}

TEST(ReadTextJsonlTest, ReadsTextAndNamesTheBadLine) {
  memr1::testing::TempDir dir("memr1_sft_text");
  const std::string path = dir.Sub("text.jsonl");
  std::ofstream(path) << R"({"text": "hello world", "id": 1})"
                      << "\n\n"
                      << R"({"text": "second"})"
                      << "\n";
  auto docs = ReadTextJsonl(path);
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ((*docs)[0].text, "hello world");
  EXPECT_EQ((*docs)[1].text, "second");
  EXPECT_EQ((*docs)[1].where, path + ":3");

  std::ofstream(path, std::ios::app) << R"({"txt": "typo"})"
                                     << "\n";
  EXPECT_THAT(std::string(ReadTextJsonl(path).status().message()),
              HasSubstr(path + ":4: needs \"text\""));
  std::ofstream(path) << R"({"text": ""})"
                      << "\n";
  EXPECT_THAT(std::string(ReadTextJsonl(path).status().message()),
              HasSubstr(path + ":1: \"text\" is empty"));
  std::ofstream(path) << "not json\n";
  EXPECT_THAT(std::string(ReadTextJsonl(path).status().message()),
              HasSubstr(path + ":1: not a JSON object"));
  std::ofstream(path) << "\n";
  EXPECT_THAT(std::string(ReadTextJsonl(path).status().message()), HasSubstr("holds no documents"));
  EXPECT_EQ(ReadTextJsonl(dir.Sub("missing.jsonl")).status().code(), absl::StatusCode::kNotFound);
}

TEST(EpochOrderTest, EachEpochIsASeededPermutation) {
  EpochOrder a(7, 42, true), b(7, 42, true), other_seed(7, 43, true);
  std::vector<int64_t> epoch0, epoch1, seed43;
  for (int64_t p = 0; p < 7; ++p) {
    epoch0.push_back(a.Index(p));
    seed43.push_back(other_seed.Index(p));
  }
  for (int64_t p = 7; p < 14; ++p) epoch1.push_back(a.Index(p));
  EXPECT_EQ(std::set<int64_t>(epoch0.begin(), epoch0.end()).size(), 7u);
  EXPECT_EQ(std::set<int64_t>(epoch1.begin(), epoch1.end()).size(), 7u);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_NE(epoch0, seed43);
  // Any position can be asked for in any order (resume): the same answer.
  for (int64_t p = 13; p >= 0; --p) EXPECT_EQ(b.Index(p), p < 7 ? epoch0[p] : epoch1[p - 7]);
  // The order is fixed by the C++ standard's mt19937_64 and seed_seq: the same everywhere.
  EXPECT_EQ(epoch0, std::vector<int64_t>({5, 6, 2, 1, 0, 4, 3}));
  EpochOrder in_order(5, 42, false);
  for (int64_t p = 0; p < 12; ++p) EXPECT_EQ(in_order.Index(p), p % 5);
}

}  // namespace
}  // namespace memr1::learner
