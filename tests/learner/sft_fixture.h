#pragma once

// Test support for the SFT suites: a tiny random Qwen2 decoder, an SFT trainer on it from
// configs/tiny-cpu.yaml, demonstrations, and the trainer's parameters as one vector.

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "common/config.h"
#include "gtest/gtest.h"
#include "learner/trainer.h"
#include "tests/llm/model_testing.h"

namespace memr1::learner::testing {

constexpr int kTinyVocab = 24;

inline std::unique_ptr<llm::CausalLM> TinyModel(uint64_t seed) {
  return llm::testing::RandomQwen2(
      R"({"vocab_size": 24, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_key_value_heads": 2})",
      seed);
}

// An SFT trainer over `comm` on a fresh tiny model (seed 7); `overrides` go after the defaults.
inline std::unique_ptr<Trainer> MakeSftTrainer(Communicator* comm, int global_batch, int micro,
                                               const std::vector<std::string>& overrides = {}) {
  std::vector<std::string> all = {"learner.algorithm=sft",
                                  "learner.num_ranks=" + std::to_string(comm->world_size()),
                                  "learner.global_batch_size=" + std::to_string(global_batch),
                                  "learner.micro_batch_size=" + std::to_string(micro),
                                  "learner.actor_lr=0.001"};
  all.insert(all.end(), overrides.begin(), overrides.end());
  auto job = LoadJobConfig(std::string(MEMR1_SOURCE_DIR) + "/configs/tiny-cpu.yaml", all);
  EXPECT_TRUE(job.ok()) << job.status();
  TrainerModels models;
  models.policy = TinyModel(7);
  auto trainer = Trainer::Create(*job, std::move(models), comm);
  EXPECT_TRUE(trainer.ok()) << trainer.status();
  return trainer.ok() ? *std::move(trainer) : nullptr;
}

// A demonstration: no behaviour log-probs, no reward; `mask` empty means every response token.
inline v1::Trajectory Demo(const std::string& id, const std::vector<int>& prompt,
                           const std::vector<int>& response, const std::vector<int>& mask = {}) {
  v1::Trajectory t;
  t.set_id(id);
  for (int p : prompt) t.add_prompt_ids(p);
  for (int r : response) t.add_response_ids(r);
  for (int m : mask) t.add_loss_mask(m);
  return t;
}

inline at::Tensor Flatten(Trainer& trainer) {
  std::vector<at::Tensor> flat;
  for (auto& [name, p] : trainer.policy().NamedParameters()) flat.push_back(p.detach().reshape(-1));
  return at::cat(flat);
}

}  // namespace memr1::learner::testing
