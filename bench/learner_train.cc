// Learner training throughput on the ~25M-parameter Qwen2-shaped model of the model benchmark:
// training tokens/s and achieved FLOP/s as a fraction of the F32 matrix-multiply peak measured
// in the same run, with and without activation checkpointing. Run it directly for one rank and
// under `mpirun -np 2` for two (each rank then uses cores / ranks threads):
//
//   build/bench/bench_learner_train
//   mpirun --allow-run-as-root --oversubscribe -np 2 build/bench/bench_learner_train
//
// A step is one GRPO update on a global batch of 8 sequences x 128 tokens (96 prompt + 32
// response): a no-grad forward for the old log-probs, then forward + backward, the gradient
// all-reduce and AdamW. Useful FLOPs per step = 4 x forward FLOPs (recomputation under
// checkpointing is not counted, as in MFU).

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include <torch/torch.h>

#include "common/config.h"
#include "learner/communicator.h"
#include "learner/mpi_communicator.h"
#include "learner/trainer.h"
#include "llm/model_config.h"
#include "llm/model_init.h"

namespace {

using namespace memr1;

constexpr int kSequences = 8;
constexpr int kPrompt = 96;
constexpr int kResponse = 32;

double MatmulPeak() {
  torch::NoGradGuard no_grad;
  const auto a = torch::randn({1024, 1024});
  const auto b = torch::randn({1024, 1024});
  auto c = torch::empty({1024, 1024});
  torch::mm_out(c, a, b);
  const auto start = std::chrono::steady_clock::now();
  const int reps = 20;
  for (int i = 0; i < reps; ++i) torch::mm_out(c, a, b);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * 1024 * 1024 * 1024 * reps / s;
}

double ForwardFlopsPerToken(const llm::ModelConfig& c, double context) {
  const double q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const double linear = c.hidden_size * (q + 2 * kv) + q * c.hidden_size +
                        3.0 * c.hidden_size * c.intermediate_size;
  return 2.0 * c.num_hidden_layers * (linear + 2.0 * q * context) + 2.0 * c.hidden_size * c.vocab_size;
}

std::vector<v1::Trajectory> Batch() {
  std::vector<v1::Trajectory> out;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto ids = torch::randint(0, 8192, {kSequences, kPrompt + kResponse}, gen);
  for (int i = 0; i < kSequences; ++i) {
    v1::Trajectory t;
    t.set_id(std::to_string(i));
    for (int j = 0; j < kPrompt + kResponse; ++j) {
      const int32_t id = static_cast<int32_t>(ids[i][j].item<int64_t>());
      if (j < kPrompt) {
        t.add_prompt_ids(id);
      } else {
        t.add_response_ids(id);
        t.add_behaviour_logprobs(-9.0f);
      }
    }
    t.set_reward(i % 2);
    t.set_group_id("g" + std::to_string(i / 4));
    out.push_back(std::move(t));
  }
  return out;
}

int Run() {
  auto comm = *learner::MpiCommunicator::Create();
  const int world = comm->world_size();
  const int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / world);
  at::set_num_threads(threads);
  const double peak = MatmulPeak();  // per rank, with this rank's threads
  auto model_config = *llm::MakeModelConfig(
      llm::Architecture::kQwen2,
      R"({"vocab_size": 8192, "hidden_size": 512, "intermediate_size": 1408,
          "num_hidden_layers": 7, "num_attention_heads": 8, "num_key_value_heads": 4,
          "tie_word_embeddings": true})",
      "bench");
  const auto batch = Batch();
  const double tokens = kSequences * (kPrompt + kResponse);
  const double flops_per_step = 4.0 * tokens * ForwardFlopsPerToken(model_config, (kPrompt + kResponse) / 2.0);
  if (comm->rank() == 0) {
    std::printf("ranks: %d, threads per rank: %d, F32 matmul peak per rank: %.1f GFLOP/s\n", world,
                threads, peak / 1e9);
  }
  for (bool checkpointing : {false, true}) {
    auto job = *LoadJobConfigFromText(
        "learner:\n  algorithm: grpo\n  num_ranks: " + std::to_string(world) +
            "\n  global_batch_size: 8\n  micro_batch_size: " + std::to_string(8 / world) +
            "\n  kl_coef: 0\n  actor_lr: 1.0e-5\nactor:\n  sampling:\n    group_size: 4\n"
            "model:\n  activation_checkpointing: " + (checkpointing ? "true" : "false") + "\n",
        "bench");
    learner::TrainerModels models;
    models.policy = *llm::CausalLM::Create(model_config, c10::Device("cpu"), at::kFloat);
    llm::InitOptions init;
    init.seed = 1;
    if (!llm::InitializeRandom(models.policy.get(), init).ok()) return 1;
    const double params = static_cast<double>(models.policy->NumParameters());
    auto trainer = learner::Trainer::Create(job, std::move(models), comm.get());
    if (!trainer.ok()) {
      std::fprintf(stderr, "%s\n", trainer.status().ToString().c_str());
      return 1;
    }
    if (!(*trainer)->Step(batch).ok()) return 1;  // warm-up
    const int steps = 3;
    comm->Barrier().IgnoreError();
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < steps; ++i) {
      auto m = (*trainer)->Step(batch);
      if (!m.ok()) {
        std::fprintf(stderr, "%s\n", m.status().ToString().c_str());
        return 1;
      }
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (comm->rank() == 0) {
      const double achieved = flops_per_step * steps / s;
      std::printf(
          "%.1fM params, checkpointing %-3s: %.2f s/step, %.0f training tokens/s, "
          "%.1f GFLOP/s = %.2f of the %d-rank matmul peak\n",
          params / 1e6, checkpointing ? "on" : "off", s / steps, tokens * steps / s, achieved / 1e9,
          achieved / (peak * world), world);
    }
  }
  return 0;
}

}  // namespace

int main() { return Run(); }
