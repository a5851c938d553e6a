#pragma once

// The PPO/GRPO trainer of one data-parallel learner rank: policy (llm::CausalLM), an optional
// frozen reference, and for PPO a critic (CausalLM + value head). One Step() turns a global
// batch of trajectories into ppo_epochs optimizer updates:
//
//   1. this rank takes its contiguous share of the global batch (global_batch / world);
//   2. learner log-probs of the sampled tokens are recomputed without gradients ("old"), and
//      truncated importance weights min(exp(old - behaviour), importance_cap) correct for the
//      rollout engine's numerics and for stale policy versions;
//   3. advantages: GRPO group-relative (over the whole global batch, which every rank holds) or
//      PPO GAE on critic values with the outcome reward at the last policy token, whitened over
//      the global batch; KL to the reference as a reward penalty when kl_mode is reward_penalty;
//   4. per epoch: micro-batches of micro_batch_size trajectories, each loss normalised by the
//      global token (or sequence) count so that gradient accumulation and data parallelism
//      give the gradient of one big batch; bucketed all-reduce; global-norm clipping; AdamW
//      (ZeRO-1 when zero_stage is 1) with the warm-up/cosine schedule. Critic likewise.
//
// learner.algorithm SFT (supervised: warm start, Memory-SFT, LM pretraining) takes the same path
// without steps 2-3: one optimizer update per Step on the masked next-token cross-entropy of the
// response tokens (learner/sft.h), a token mean over the global batch. No reference model, no
// critic; rewards, behaviour and reference log-probs in the trajectories are ignored (a
// demonstration may carry no behaviour log-probs), and ppo_epochs, kl_coef and
// loss_aggregation do not apply.
//
// Thread safety: not thread safe; one thread drives a Trainer. Collective: every rank calls
// Step/Save with the same global batch.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/adamw.h"
#include "learner/checkpoint.h"
#include "learner/communicator.h"
#include "learner/lr_schedule.h"
#include "llm/decoder.h"
#include "llm/value_head.h"
#include "memr1/v1/config.pb.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::learner {

struct TrainerModels {
  std::unique_ptr<llm::CausalLM> policy;
  // Required when kl_coef > 0 and not reference_from_trajectories; ignored otherwise.
  std::unique_ptr<llm::CausalLM> reference;
  // PPO only.
  std::unique_ptr<llm::CausalLM> critic;
  std::unique_ptr<llm::ValueHead> value_head;
};

// Loads the models a job needs from model.path (and learner.critic_model_path) in Hugging Face
// layout, on model.device in model.dtype. The value head is new (seeded by the job seed) unless
// the critic directory holds value_head.safetensors.
absl::StatusOr<TrainerModels> LoadTrainerModels(const v1::JobConfig& config);

// A frozen copy of `model` (same config, device, dtype and weights).
absl::StatusOr<std::unique_ptr<llm::CausalLM>> CloneModel(const llm::CausalLM& model);

// Metrics of one Step, averaged over the global batch (and over epochs).
struct StepMetrics {
  int64_t step = 0;  // Step() calls completed
  double loss = 0;
  double policy_loss = 0;
  double value_loss = 0;
  double kl = 0;
  double entropy = 0;
  double clip_fraction = 0;
  double value_clip_fraction = 0;
  double approx_kl = 0;
  double importance_weight_mean = 0;
  double reward_mean = 0;
  double advantage_mean = 0;
  double advantage_std = 0;
  double advantage_min = 0;
  double advantage_max = 0;
  int64_t groups = 0;
  int64_t degenerate_groups = 0;
  double grad_norm = 0;
  double critic_grad_norm = 0;
  double lr = 0;
  double critic_lr = 0;
  int64_t tokens = 0;  // policy tokens in the global batch
  double seconds = 0;
  double tokens_per_second = 0;
  // SFT steps: `loss` is the mean NLL per trained token and token_accuracy the fraction of
  // trained tokens whose greedy (argmax) prediction is right.
  bool supervised = false;
  double token_accuracy = 0;

  // One JSON object (a line of metrics.jsonl). An SFT step writes step, sft/loss,
  // sft/token_accuracy, loss (the same NLL), tokens, grad_norm, lr, seconds and
  // tokens_per_second; an RL step the RL fields.
  std::string ToJson() const;
};

class Trainer {
 public:
  // Validates the learner config, checks that `models` has what it asks for, makes all ranks'
  // weights identical (broadcast from rank 0) and builds the optimizers. `comm` is not owned.
  static absl::StatusOr<std::unique_ptr<Trainer>> Create(const v1::JobConfig& config,
                                                         TrainerModels models, Communicator* comm);

  // One training step on `global_batch` (exactly learner.global_batch_size trajectories, the
  // same on every rank). InvalidArgument naming the trajectory for one that does not fit the
  // model (empty prompt, ids outside the vocabulary, missing reference log-probs, missing
  // behaviour log-probs for an RL algorithm).
  absl::StatusOr<StepMetrics> Step(const std::vector<v1::Trajectory>& global_batch);

  // Collective checkpoint of weights, optimizer slices, schedule position and RNG, with the
  // policy (and critic) also in Hugging Face layout under <checkpoint>/policy (/critic).
  // `trainer_state_json` (a JSON object, e.g. the data cursor) is stored with it.
  absl::StatusOr<std::string> Save(CheckpointManager& manager, const std::string& config_yaml,
                                   const std::string& trainer_state_json);
  // Restores what Save wrote; errors name the mismatching tensor. Returns the stored
  // trainer_state_json.
  absl::StatusOr<std::string> Restore(const CheckpointData& data);

  llm::CausalLM& policy() { return *models_.policy; }
  int64_t steps() const { return steps_; }

 private:
  Trainer(const v1::JobConfig& config, TrainerModels models, Communicator* comm);
  absl::Status Init();
  // The SFT update of Step (after validation); `global_tokens` counts the trained tokens.
  absl::StatusOr<StepMetrics> SupervisedStep(const std::vector<v1::Trajectory>& global_batch,
                                             double global_tokens);
  // Sums `values` over the ranks.
  absl::StatusOr<std::vector<double>> AllReduceSums(std::vector<double> values) const;
  // The end of every update: gradients all-reduced, clipped (`grad_norm` before clipping),
  // the optimizer stepped at the schedule's rate (`lr`), gradients zeroed.
  absl::Status Update(std::vector<at::Tensor>& params, ShardedAdamW& optimizer,
                      const LrSchedule& schedule, double* grad_norm, double* lr);

  v1::JobConfig config_;
  TrainerModels models_;
  Communicator* comm_;
  std::unique_ptr<ShardedAdamW> policy_optimizer_;
  std::unique_ptr<ShardedAdamW> critic_optimizer_;
  std::unique_ptr<LrSchedule> policy_schedule_;
  std::unique_ptr<LrSchedule> critic_schedule_;
  std::vector<at::Tensor> policy_params_;
  std::vector<at::Tensor> critic_params_;
  int64_t steps_ = 0;
};

}  // namespace memr1::learner
