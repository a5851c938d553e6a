// The small RL problem: a tiny randomly initialised policy, sampled by the real rollout engine,
// must learn to emit a rewarded token. Reward = fraction of the 4 response tokens equal to
// kTarget (1/16 by chance). GRPO and PPO must both reach a mean reward >= 0.9 within a bounded
// number of seeded steps.

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "common/config.h"
#include "gtest/gtest.h"
#include "learner/communicator.h"
#include "learner/trainer.h"
#include "llm/engine.h"
#include "tests/llm/model_testing.h"

namespace memr1::learner {
namespace {

constexpr int64_t kTarget = 7;
constexpr int kPrompts = 4;
constexpr int kSamples = 8;
constexpr int kMaxSteps = 40;

std::unique_ptr<llm::CausalLM> TinyModel(uint64_t seed) {
  return llm::testing::RandomQwen2(
      R"({"vocab_size": 16, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 64,
          "tie_word_embeddings": false})",
      seed);
}

// TinyModel(seed) as the policy, with a frozen copy of it as the KL reference.
TrainerModels PolicyWithReference(uint64_t seed) {
  TrainerModels models;
  models.policy = TinyModel(seed);
  models.reference = *CloneModel(*models.policy);
  return models;
}

v1::JobConfig Job(const std::string& algorithm) {
  auto job = LoadJobConfig(std::string(MEMR1_SOURCE_DIR) + "/configs/tiny-cpu.yaml",
                           {"learner.algorithm=" + algorithm, "learner.num_ranks=1",
                            "learner.global_batch_size=32", "learner.micro_batch_size=8",
                            "actor.sampling.group_size=8", "learner.actor_lr=0.01",
                            "learner.critic_lr=0.01", "learner.weight_decay=0",
                            "learner.kl_coef=0.001", "learner.total_steps=100",
                            "learner.gamma=1", "learner.lam=1"});
  EXPECT_TRUE(job.ok()) << job.status();
  return *job;
}

// The rollout engine on `trainer`'s policy, for a batch of kPrompts x kSamples short requests.
std::unique_ptr<llm::Engine> EngineOn(Trainer& trainer) {
  llm::EngineOptions options;
  options.max_batch_size = kPrompts * kSamples;
  options.max_seq_len = 16;
  auto engine = llm::Engine::Create(&trainer.policy(), options);
  EXPECT_TRUE(engine.ok()) << engine.status();
  return engine.ok() ? *std::move(engine) : nullptr;
}

// Trajectory `id`: the request's prompt, the sampled ids and their log-probs plus `shift` as
// the behaviour log-probs. Reward and group are the caller's.
v1::Trajectory SampledTrajectory(size_t id, const llm::GenerationRequest& request,
                                 const llm::GenerationResult& result, float shift = 0) {
  v1::Trajectory t;
  t.set_id(std::to_string(id));
  for (int64_t token : request.prompt) t.add_prompt_ids(static_cast<int32_t>(token));
  for (int64_t token : result.ids) t.add_response_ids(static_cast<int32_t>(token));
  for (float lp : result.logprobs) t.add_behaviour_logprobs(lp + shift);
  return t;
}

// Runs rollouts + updates until the mean reward of a step's batch reaches 0.9. Returns the
// number of steps it took (kMaxSteps + 1 if it never did).
int Solve(const std::string& algorithm) {
  const v1::JobConfig job = Job(algorithm);
  TrainerModels models = PolicyWithReference(5);
  if (algorithm == "ppo") {
    models.critic = TinyModel(6);
    models.value_head = *llm::ValueHead::Create(32, c10::Device("cpu"), at::kFloat, 6);
  }
  SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(job, std::move(models), &comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  std::unique_ptr<llm::Engine> engine = EngineOn(**trainer);
  if (engine == nullptr) return kMaxSteps + 1;

  for (int step = 0; step < kMaxSteps; ++step) {
    std::vector<llm::GenerationRequest> requests;
    for (int p = 0; p < kPrompts; ++p) {
      for (int s = 0; s < kSamples; ++s) {
        llm::GenerationRequest request;
        request.prompt = {1 + p, 2 + p, 3 + p};
        request.params.temperature = 1.0;
        request.params.max_new_tokens = 4;
        request.params.seed = static_cast<uint64_t>(step * 1000 + p * kSamples + s);
        requests.push_back(request);
      }
    }
    auto results = engine->Generate(requests);
    EXPECT_TRUE(results.ok()) << results.status();
    if (!results.ok()) return kMaxSteps + 1;
    std::vector<v1::Trajectory> batch;
    double reward_sum = 0;
    for (size_t i = 0; i < requests.size(); ++i) {
      v1::Trajectory t = SampledTrajectory(i, requests[i], (*results)[i]);
      const int64_t hits = std::count((*results)[i].ids.begin(), (*results)[i].ids.end(), kTarget);
      t.set_reward(static_cast<double>(hits) / t.response_ids_size());
      // GRPO groups by prompt; for PPO every trajectory stands alone.
      t.set_group_id(algorithm != "ppo" ? "prompt-" + std::to_string(i / kSamples) : t.id());
      reward_sum += t.reward();
      batch.push_back(std::move(t));
    }
    const double mean = reward_sum / batch.size();
    if (mean >= 0.9) return step;
    auto metrics = (*trainer)->Step(batch);
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    if (!metrics.ok()) return kMaxSteps + 1;
    EXPECT_TRUE(std::isfinite(metrics->loss));
  }
  return kMaxSteps + 1;
}

TEST(RlProblemTest, GrpoLearnsTheRewardedToken) {
  const int steps = Solve("grpo");
  EXPECT_LE(steps, kMaxSteps) << "GRPO did not reach mean reward 0.9 in " << kMaxSteps << " steps";
  std::cout << "GRPO reached mean reward >= 0.9 after " << steps << " steps\n";
}

TEST(RlProblemTest, RlooLearnsTheRewardedToken) {
  const int steps = Solve("rloo");
  EXPECT_LE(steps, kMaxSteps) << "RLOO did not reach mean reward 0.9 in " << kMaxSteps << " steps";
  std::cout << "RLOO reached mean reward >= 0.9 after " << steps << " steps\n";
}

TEST(RlProblemTest, PpoLearnsTheRewardedToken) {
  const int steps = Solve("ppo");
  EXPECT_LE(steps, kMaxSteps) << "PPO did not reach mean reward 0.9 in " << kMaxSteps << " steps";
  std::cout << "PPO reached mean reward >= 0.9 after " << steps << " steps\n";
}

// With one update epoch the trainer takes the old log-probs from the update's own forward (no
// separate pass). Behaviour log-probs 0.3 below the policy's own make every importance weight
// exp(0.3) (under the cap of 2), and the ratio is 1, so the GRPO loss is -exp(0.3) times the
// token-mean advantage, on the first step and on one after the parameters moved.
TEST(TrainerTest, OneEpochTakesTheOldLogprobsFromTheUpdateForward) {
  const v1::JobConfig job = Job("grpo");
  ASSERT_EQ(job.learner().ppo_epochs(), 1);
  TrainerModels models = PolicyWithReference(3);
  SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(job, std::move(models), &comm);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  std::unique_ptr<llm::Engine> engine = EngineOn(**trainer);
  ASSERT_NE(engine, nullptr);
  for (int step = 0; step < 2; ++step) {
    std::vector<llm::GenerationRequest> requests;
    for (int i = 0; i < kPrompts * kSamples; ++i) {
      llm::GenerationRequest request;
      request.prompt = {1 + i / kSamples, 2, 3};
      request.params.temperature = 1.0;
      request.params.max_new_tokens = 1 + i % 4;  // lengths differ: a non-zero token mean
      request.params.seed = static_cast<uint64_t>(100 * step + i);
      requests.push_back(request);
    }
    auto results = engine->Generate(requests);
    ASSERT_TRUE(results.ok()) << results.status();
    std::vector<v1::Trajectory> batch;
    for (size_t i = 0; i < requests.size(); ++i) {
      v1::Trajectory t = SampledTrajectory(i, requests[i], (*results)[i], -0.3f);
      t.set_reward(static_cast<double>(i % 3));
      t.set_group_id("prompt-" + std::to_string(i / kSamples));
      batch.push_back(std::move(t));
    }
    auto metrics = (*trainer)->Step(batch);
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    EXPECT_NEAR(metrics->importance_weight_mean, std::exp(0.3), 1e-4) << "step " << step;
    EXPECT_GT(std::abs(metrics->advantage_mean), 1e-3);
    EXPECT_NEAR(metrics->policy_loss, -std::exp(0.3) * metrics->advantage_mean, 1e-4)
        << "step " << step;
  }
}

TEST(TrainerTest, RejectsBadBatchesNamingTheTrajectory) {
  const v1::JobConfig job = Job("grpo");
  TrainerModels models = PolicyWithReference(1);
  SingleProcessCommunicator comm;
  auto trainer = Trainer::Create(job, std::move(models), &comm);
  ASSERT_TRUE(trainer.ok()) << trainer.status();
  std::vector<v1::Trajectory> batch(32);
  for (auto& t : batch) {
    t.add_prompt_ids(1);
    t.add_response_ids(2);
    t.add_behaviour_logprobs(-1);
  }
  batch[5].set_response_ids(0, 99);  // outside the 16-token vocabulary
  auto result = (*trainer)->Step(batch);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("trajectory 5"), std::string::npos) << result.status();
  batch.pop_back();
  EXPECT_FALSE((*trainer)->Step(batch).ok());  // wrong batch size
  // PPO without a critic is refused.
  TrainerModels no_critic = PolicyWithReference(1);
  EXPECT_FALSE(Trainer::Create(Job("ppo"), std::move(no_critic), &comm).ok());
}

}  // namespace
}  // namespace memr1::learner
