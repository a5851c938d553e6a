#include "learner/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)
#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"
#include "learner/advantages.h"
#include "learner/grad_sync.h"
#include "learner/losses.h"
#include "learner/sft.h"
#include "learner/trajectory_io.h"
#include "llm/checkpoint_io.h"
#include "llm/scoring.h"

namespace memr1::learner {

namespace fs = std::filesystem;

namespace {

using v1::LearnerConfig;

// Padded tensors of a micro-batch of trajectories.
struct MicroBatch {
  llm::DecoderInput input;  // [B, L] ids and attention mask
  at::Tensor targets;       // [B, L]: ids shifted left
  at::Tensor index;         // [B, Tr]: position whose logits predict response token t
  at::Tensor mask;          // [B, Tr] float: policy tokens
  at::Tensor behaviour;     // [B, Tr]
  at::Tensor reference;     // [B, Tr] from the trajectories (or undefined)
  at::Tensor token_rewards; // [B, Tr]
  at::Tensor rewards;       // [B] outcome rewards
  at::Tensor last_policy;   // [B] int64 index of the last policy token
  int64_t begin = 0;        // first trajectory within the rank's share
  int64_t size = 0;
};

absl::StatusOr<MicroBatch> MakeMicroBatch(const std::vector<const v1::Trajectory*>& ts,
                                          int64_t begin, c10::Device device, bool need_reference) {
  MicroBatch mb;
  mb.begin = begin;
  mb.size = static_cast<int64_t>(ts.size());
  int64_t max_len = 0, max_resp = 0;
  for (const auto* t : ts) {
    max_len = std::max<int64_t>(max_len, t->prompt_ids_size() + t->response_ids_size());
    max_resp = std::max<int64_t>(max_resp, t->response_ids_size());
  }
  const int64_t b = mb.size;
  std::vector<int64_t> ids(b * max_len, 0), attention(b * max_len, 0), targets(b * max_len, 0);
  std::vector<int64_t> index(b * max_resp, 0), last(b, 0);
  std::vector<float> mask(b * max_resp, 0), behaviour(b * max_resp, 0), reference(b * max_resp, 0),
      token_rewards(b * max_resp, 0), rewards(b, 0);
  for (int64_t row = 0; row < b; ++row) {
    const v1::Trajectory& t = *ts[row];
    const int64_t p = t.prompt_ids_size(), r = t.response_ids_size();
    for (int64_t j = 0; j < p + r; ++j) {
      ids[row * max_len + j] = j < p ? t.prompt_ids(j) : t.response_ids(j - p);
      attention[row * max_len + j] = 1;
    }
    for (int64_t j = 0; j + 1 < p + r; ++j) targets[row * max_len + j] = ids[row * max_len + j + 1];
    for (int64_t k = 0; k < r; ++k) {
      const int64_t i = row * max_resp + k;
      index[i] = p - 1 + k;
      mask[i] = t.loss_mask_size() == 0 ? 1.0f : static_cast<float>(t.loss_mask(k));
      // SFT demonstrations may carry no behaviour log-probs (RL validation requires them).
      if (t.behaviour_logprobs_size() > 0) behaviour[i] = t.behaviour_logprobs(k);
      if (need_reference) reference[i] = t.reference_logprobs(k);
      if (t.token_rewards_size() > 0) token_rewards[i] = t.token_rewards(k);
      if (mask[i] > 0) last[row] = k;
    }
    rewards[row] = static_cast<float>(t.reward());
  }
  auto i64 = at::TensorOptions().dtype(at::kLong);
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  mb.input.input_ids = at::tensor(ids, i64).view({b, max_len}).to(device);
  mb.input.attention_mask = at::tensor(attention, i64).view({b, max_len}).to(device);
  mb.targets = at::tensor(targets, i64).view({b, max_len}).to(device);
  mb.index = at::tensor(index, i64).view({b, max_resp}).to(device);
  mb.mask = at::tensor(mask, f32).view({b, max_resp}).to(device);
  mb.behaviour = at::tensor(behaviour, f32).view({b, max_resp}).to(device);
  if (need_reference) mb.reference = at::tensor(reference, f32).view({b, max_resp}).to(device);
  mb.token_rewards = at::tensor(token_rewards, f32).view({b, max_resp}).to(device);
  mb.rewards = at::tensor(rewards, f32).to(device);
  mb.last_policy = at::tensor(last, i64).to(device);
  return mb;
}

// Response-token log-probs (and entropies) of `model` on `mb`.
absl::StatusOr<llm::TokenScores> ResponseScores(llm::CausalLM& model, const MicroBatch& mb,
                                                bool with_entropy) {
  MEMR1_ASSIGN_OR_RETURN(llm::TokenScores scores,
                         llm::ScoreBatch(model, mb.input, mb.targets, with_entropy));
  llm::TokenScores out;
  out.logprobs = scores.logprobs.gather(1, mb.index);
  if (with_entropy) out.entropies = scores.entropies.gather(1, mb.index);
  return out;
}

absl::StatusOr<at::Tensor> ResponseValues(llm::CausalLM& critic, const llm::ValueHead& head,
                                          const MicroBatch& mb) {
  MEMR1_ASSIGN_OR_RETURN(at::Tensor hidden, critic.Hidden(mb.input));
  return head.Forward(hidden).gather(1, mb.index);
}

KlEstimator ToEstimator(LearnerConfig::KlEstimator e) {
  switch (e) {
    case LearnerConfig::K1: return KlEstimator::kK1;
    case LearnerConfig::K2: return KlEstimator::kK2;
    default: return KlEstimator::kK3;
  }
}

LrScheduleOptions ScheduleOptions(const LearnerConfig& l, double lr) {
  LrScheduleOptions o;
  o.base_lr = lr;
  o.warmup_steps = l.warmup_steps();
  o.total_steps = l.total_steps();
  o.kind = l.lr_schedule() == LearnerConfig::COSINE ? LrScheduleOptions::Kind::kCosine
                                                     : LrScheduleOptions::Kind::kConstant;
  o.min_lr_ratio = l.min_lr_ratio();
  return o;
}

std::vector<at::Tensor> Params(const llm::CausalLM& model) {
  std::vector<at::Tensor> out;
  for (auto& [name, p] : model.NamedParameters()) out.push_back(p);
  return out;
}

absl::Status BroadcastParams(const std::vector<at::Tensor>& params, Communicator& comm) {
  if (comm.world_size() == 1) return absl::OkStatus();
  for (at::Tensor p : params) {
    at::NoGradGuard no_grad;
    at::Tensor buffer = p.detach().to(comm.device(), at::kFloat).contiguous();
    MEMR1_RETURN_IF_ERROR(comm.Broadcast(buffer, 0));
    p.detach().copy_(buffer.view(p.sizes()));
  }
  return absl::OkStatus();
}

void ZeroGrads(const std::vector<at::Tensor>& params) {
  for (const auto& p : params) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

}  // namespace

std::string StepMetrics::ToJson() const {
  if (supervised) {
    // Only what a supervised step measures (the RL fields would be zeros that mean nothing).
    const nlohmann::json j = {{"step", step},
                              {"sft/loss", loss},
                              {"sft/token_accuracy", token_accuracy},
                              {"loss", loss},
                              {"tokens", tokens},
                              {"grad_norm", grad_norm},
                              {"lr", lr},
                              {"seconds", seconds},
                              {"tokens_per_second", tokens_per_second}};
    return j.dump();
  }
  nlohmann::json j = {{"step", step},
                      {"loss", loss},
                      {"policy_loss", policy_loss},
                      {"value_loss", value_loss},
                      {"kl", kl},
                      {"entropy", entropy},
                      {"clip_fraction", clip_fraction},
                      {"value_clip_fraction", value_clip_fraction},
                      {"approx_kl", approx_kl},
                      {"importance_weight_mean", importance_weight_mean},
                      {"reward_mean", reward_mean},
                      {"advantage_mean", advantage_mean},
                      {"advantage_std", advantage_std},
                      {"advantage_min", advantage_min},
                      {"advantage_max", advantage_max},
                      {"groups", groups},
                      {"degenerate_groups", degenerate_groups},
                      {"grad_norm", grad_norm},
                      {"critic_grad_norm", critic_grad_norm},
                      {"lr", lr},
                      {"critic_lr", critic_lr},
                      {"tokens", tokens},
                      {"seconds", seconds},
                      {"tokens_per_second", tokens_per_second}};
  return j.dump();
}

absl::StatusOr<std::unique_ptr<llm::CausalLM>> CloneModel(const llm::CausalLM& model) {
  MEMR1_ASSIGN_OR_RETURN(auto copy,
                         llm::CausalLM::Create(model.config(), model.device(), model.dtype()));
  MEMR1_RETURN_IF_ERROR(TorchCall("copying model weights", [&] {
    at::NoGradGuard no_grad;
    auto source = model.NamedParameters();
    auto target = copy->NamedParameters();
    for (size_t i = 0; i < source.size(); ++i) target[i].second.copy_(source[i].second);
  }));
  return copy;
}

absl::StatusOr<TrainerModels> LoadTrainerModels(const v1::JobConfig& config) {
  if (config.model().path().empty()) {
    return absl::InvalidArgumentError("model.path is empty: the learner needs a policy model");
  }
  MEMR1_ASSIGN_OR_RETURN(c10::Device device, llm::ParseDevice(config.model().device()));
  const c10::ScalarType dtype =
      config.model().dtype() == v1::ModelConfig::BFLOAT16  ? at::kBFloat16
      : config.model().dtype() == v1::ModelConfig::FLOAT16 ? at::kHalf
                                                          : at::kFloat;
  const LearnerConfig& l = config.learner();
  TrainerModels models;
  MEMR1_ASSIGN_OR_RETURN(models.policy, llm::LoadCausalLM(config.model().path(), device, dtype));
  if (l.algorithm() == LearnerConfig::SFT) return models;  // no reference, no critic
  if (l.kl_coef() > 0 && !l.reference_from_trajectories()) {
    MEMR1_ASSIGN_OR_RETURN(models.reference, CloneModel(*models.policy));
  }
  if (l.algorithm() == LearnerConfig::PPO) {
    const std::string critic_path =
        l.critic_model_path().empty() ? config.model().path() : l.critic_model_path();
    MEMR1_ASSIGN_OR_RETURN(models.critic, llm::LoadCausalLM(critic_path, device, dtype));
    const int64_t hidden = models.critic->config().hidden_size;
    if (fs::exists(fs::path(critic_path) / llm::kValueHeadFile)) {
      MEMR1_ASSIGN_OR_RETURN(models.value_head,
                             llm::ValueHead::Load(critic_path, hidden, device, dtype));
    } else {
      MEMR1_ASSIGN_OR_RETURN(models.value_head,
                             llm::ValueHead::Create(hidden, device, dtype, config.seed()));
    }
  }
  return models;
}

Trainer::Trainer(const v1::JobConfig& config, TrainerModels models, Communicator* comm)
    : config_(config), models_(std::move(models)), comm_(comm) {}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(const v1::JobConfig& config,
                                                         TrainerModels models,
                                                         Communicator* comm) {
  const LearnerConfig& l = config.learner();
  if (comm == nullptr) return absl::InvalidArgumentError("Trainer: no communicator");
  if (models.policy == nullptr) return absl::InvalidArgumentError("Trainer: no policy model");
  const bool sft = l.algorithm() == LearnerConfig::SFT;
  if (!sft && l.kl_coef() > 0 && !l.reference_from_trajectories() && models.reference == nullptr) {
    return absl::InvalidArgumentError(
        "learner.kl_coef > 0 needs a reference model (or learner.reference_from_trajectories)");
  }
  if (l.algorithm() == LearnerConfig::PPO &&
      (models.critic == nullptr || models.value_head == nullptr)) {
    return absl::InvalidArgumentError("PPO needs a critic model and a value head");
  }
  const int64_t per_rank_step = static_cast<int64_t>(l.micro_batch_size()) * comm->world_size();
  if (l.global_batch_size() % per_rank_step != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.global_batch_size ", l.global_batch_size(), " is not a multiple of ",
        "micro_batch_size x ranks (", l.micro_batch_size(), " x ", comm->world_size(), ")"));
  }
  std::unique_ptr<Trainer> trainer(new Trainer(config, std::move(models), comm));
  MEMR1_RETURN_IF_ERROR(trainer->Init());
  return trainer;
}

absl::Status Trainer::Init() {
  const LearnerConfig& l = config_.learner();
  models_.policy->set_activation_checkpointing(config_.model().activation_checkpointing());
  policy_params_ = Params(*models_.policy);
  MEMR1_RETURN_IF_ERROR(BroadcastParams(policy_params_, *comm_));
  if (models_.reference != nullptr) {
    for (const auto& p : Params(*models_.reference)) p.requires_grad_(false);
  }
  AdamWOptions options;
  options.beta1 = l.adam_beta1();
  options.beta2 = l.adam_beta2();
  options.eps = l.adam_eps();
  options.weight_decay = l.weight_decay();
  options.shard_state = l.zero_stage() >= 1;
  options.offload_state = l.optimizer_offload();
  MEMR1_ASSIGN_OR_RETURN(policy_optimizer_, ShardedAdamW::Create(policy_params_, options, comm_));
  LrScheduleOptions policy_schedule = ScheduleOptions(l, l.actor_lr());
  MEMR1_RETURN_IF_ERROR(policy_schedule.Validate());
  policy_schedule_ = std::make_unique<LrSchedule>(policy_schedule);
  if (models_.critic != nullptr && l.algorithm() == LearnerConfig::PPO) {
    models_.critic->set_activation_checkpointing(config_.model().activation_checkpointing());
    critic_params_ = Params(*models_.critic);
    for (const auto& p : models_.value_head->module().parameters()) critic_params_.push_back(p);
    MEMR1_RETURN_IF_ERROR(BroadcastParams(critic_params_, *comm_));
    MEMR1_ASSIGN_OR_RETURN(critic_optimizer_, ShardedAdamW::Create(critic_params_, options, comm_));
    critic_schedule_ = std::make_unique<LrSchedule>(ScheduleOptions(l, l.critic_lr()));
  }
  return absl::OkStatus();
}

absl::StatusOr<StepMetrics> Trainer::Step(const std::vector<v1::Trajectory>& global_batch) {
  const LearnerConfig& l = config_.learner();
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = static_cast<int64_t>(global_batch.size());
  if (n != l.global_batch_size()) {
    return absl::InvalidArgumentError(absl::StrCat("Step got ", n, " trajectories, expected ",
                                                   "learner.global_batch_size = ",
                                                   l.global_batch_size()));
  }
  const bool ppo = l.algorithm() == LearnerConfig::PPO;
  const bool sft = l.algorithm() == LearnerConfig::SFT;
  const bool use_kl = !sft && l.kl_coef() > 0;
  const bool reference_in_data = use_kl && l.reference_from_trajectories();
  const int64_t vocab = models_.policy->config().vocab_size;
  for (int64_t i = 0; i < n; ++i) {
    const v1::Trajectory& t = global_batch[i];
    absl::Status s = ValidateTrajectory(
        t, vocab, sft ? BehaviourLogprobs::kOptional : BehaviourLogprobs::kRequired);
    if (s.ok() && t.prompt_ids_size() == 0) s = absl::InvalidArgumentError("prompt_ids is empty");
    if (s.ok() && reference_in_data && t.reference_logprobs_size() != t.response_ids_size()) {
      s = absl::InvalidArgumentError(
          "reference_logprobs missing (learner.reference_from_trajectories is set)");
    }
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("trajectory ", i, " (id '", t.id(), "'): ", s.message()));
    }
  }

  // Global counts (every rank holds the whole global batch).
  double global_tokens = 0;
  std::vector<double> rewards;
  std::vector<std::string> groups;
  for (const auto& t : global_batch) {
    for (int k = 0; k < t.response_ids_size(); ++k) {
      global_tokens += t.loss_mask_size() == 0 ? 1 : t.loss_mask(k);
    }
    rewards.push_back(t.reward());
    groups.push_back(t.group_id().empty() ? t.id() : t.group_id());
  }
  if (sft) return SupervisedStep(global_batch, global_tokens);
  const LossAggregation aggregation = l.loss_aggregation() == LearnerConfig::SEQUENCE_MEAN
                                          ? LossAggregation::kSequenceMean
                                          : LossAggregation::kTokenMean;
  const double denominator =
      aggregation == LossAggregation::kTokenMean ? global_tokens : static_cast<double>(n);

  StepMetrics m;
  m.tokens = static_cast<int64_t>(global_tokens);
  double reward_sum = 0;
  for (double r : rewards) reward_sum += r;
  m.reward_mean = reward_sum / n;

  std::vector<double> sequence_advantages;
  if (!ppo) {
    MEMR1_ASSIGN_OR_RETURN(
        GroupAdvantages grpo,
        l.algorithm() == LearnerConfig::RLOO
            ? LeaveOneOutAdvantages(rewards, groups)
            : GroupRelativeAdvantages(rewards, groups, l.grpo_std_normalize()));
    sequence_advantages = grpo.advantages;
    m.groups = grpo.num_groups;
    m.degenerate_groups = grpo.num_degenerate_groups;
  }

  // This rank's share, in micro-batches.
  const int64_t per_rank = n / comm_->world_size();
  const int64_t first = comm_->rank() * per_rank;
  const c10::Device device = models_.policy->device();
  std::vector<MicroBatch> micro;
  for (int64_t b = 0; b < per_rank; b += l.micro_batch_size()) {
    std::vector<const v1::Trajectory*> ts;
    for (int64_t i = b; i < std::min<int64_t>(per_rank, b + l.micro_batch_size()); ++i) {
      ts.push_back(&global_batch[first + i]);
    }
    MEMR1_ASSIGN_OR_RETURN(MicroBatch mb, MakeMicroBatch(ts, b, device, reference_in_data));
    micro.push_back(std::move(mb));
  }

  // Old log-probs, reference log-probs, values and advantages, without gradients.
  //
  // With one update epoch the old log-probs are the ones the update's own forward computes
  // (the parameters move only after it), so they are taken from that forward, detached, instead
  // of from a separate no-grad pass: the same numbers, one forward per micro-batch fewer (about
  // a fifth of a step with a reference model). Not for PPO's reward-side KL penalty, which
  // needs them before GAE.
  const int epochs = l.ppo_epochs();
  const bool old_from_update = epochs == 1 && !(ppo && use_kl &&
                                                l.kl_mode() == LearnerConfig::REWARD_PENALTY);
  const KlEstimator estimator = ToEstimator(l.kl_estimator());
  std::vector<at::Tensor> old_logp(micro.size()), ref_logp(micro.size()), weights(micro.size()),
      advantages(micro.size()), returns(micro.size()), old_values(micro.size());
  double local_sums[4] = {0, 0, 0, 0};  // importance weight sum, advantage sum, sum sq, count
  // Micro-batch k's old log-probs (from a no-grad pass or the update's forward) and truncated
  // importance weights; returns the weights' sum over its response tokens.
  auto take_old = [&](size_t k, const at::Tensor& logprobs) {
    old_logp[k] = logprobs.detach();
    weights[k] = TruncatedImportanceWeights(old_logp[k], micro[k].behaviour, l.importance_cap());
    return (weights[k] * micro[k].mask).sum().item<double>();
  };
  double adv_min = 0, adv_max = 0;
  bool adv_seen = false;
  MEMR1_RETURN_IF_ERROR(TorchCall("learner preparation", [&]() -> absl::Status {
    at::NoGradGuard no_grad;
    for (size_t k = 0; k < micro.size(); ++k) {
      const MicroBatch& mb = micro[k];
      if (!old_from_update) {
        MEMR1_ASSIGN_OR_RETURN(llm::TokenScores old, ResponseScores(*models_.policy, mb, false));
        local_sums[0] += take_old(k, old.logprobs);
      }
      if (use_kl) {
        if (reference_in_data) {
          ref_logp[k] = mb.reference;
        } else {
          MEMR1_ASSIGN_OR_RETURN(llm::TokenScores ref,
                                 ResponseScores(*models_.reference, mb, false));
          ref_logp[k] = ref.logprobs.detach();
        }
      }
      if (!ppo) {
        std::vector<float> adv;
        for (int64_t i = 0; i < mb.size; ++i) {
          adv.push_back(static_cast<float>(sequence_advantages[first + mb.begin + i]));
        }
        advantages[k] = at::tensor(adv).to(device).unsqueeze(1) * mb.mask;
      } else {
        MEMR1_ASSIGN_OR_RETURN(old_values[k],
                               ResponseValues(*models_.critic, *models_.value_head, mb));
        old_values[k] = old_values[k].detach() * mb.mask;
        at::Tensor token_rewards = mb.token_rewards * mb.mask;
        token_rewards.scatter_add_(1, mb.last_policy.unsqueeze(1), mb.rewards.unsqueeze(1));
        if (use_kl && l.kl_mode() == LearnerConfig::REWARD_PENALTY) {
          token_rewards = token_rewards -
                          l.kl_coef() * KlPerToken(old_logp[k], ref_logp[k], estimator) * mb.mask;
        }
        MEMR1_ASSIGN_OR_RETURN(GaeResult gae, ComputeGae(token_rewards, old_values[k], mb.mask,
                                                         l.gamma(), l.lam()));
        advantages[k] = gae.advantages;
        returns[k] = gae.returns;
        local_sums[1] += (advantages[k] * mb.mask).sum().item<double>();
        local_sums[2] += (advantages[k].pow(2) * mb.mask).sum().item<double>();
        local_sums[3] += mb.mask.sum().item<double>();
      }
    }
    return absl::OkStatus();
  }));

  const std::vector<double> prepared(local_sums, local_sums + 4);
  MEMR1_ASSIGN_OR_RETURN(std::vector<double> sums, AllReduceSums(prepared));
  m.importance_weight_mean = sums[0] / std::max(global_tokens, 1.0);
  if (ppo) {
    // Whiten over the global batch.
    const double count = std::max(sums[3], 1.0);
    const double mean = sums[1] / count;
    const double var = std::max(0.0, sums[2] / count - mean * mean);
    for (auto& a : advantages) a = (a - mean) / (std::sqrt(var) + 1e-8);
    for (size_t k = 0; k < micro.size(); ++k) advantages[k] = advantages[k] * micro[k].mask;
  }
  {
    double s = 0, ss = 0;
    for (size_t k = 0; k < micro.size(); ++k) {
      const at::Tensor masked = advantages[k].masked_select(micro[k].mask > 0);
      if (masked.numel() == 0) continue;
      s += masked.sum().item<double>();
      ss += masked.pow(2).sum().item<double>();
      const double lo = masked.min().item<double>(), hi = masked.max().item<double>();
      adv_min = adv_seen ? std::min(adv_min, lo) : lo;
      adv_max = adv_seen ? std::max(adv_max, hi) : hi;
      adv_seen = true;
    }
    const std::vector<double> moments = {s, ss};
    MEMR1_ASSIGN_OR_RETURN(std::vector<double> g, AllReduceSums(moments));
    m.advantage_mean = g[0] / std::max(global_tokens, 1.0);
    m.advantage_std = std::sqrt(std::max(0.0, g[1] / std::max(global_tokens, 1.0) -
                                                  m.advantage_mean * m.advantage_mean));
    // Global min and max: gather every rank's pair (a rank without policy tokens sends the
    // other rank's neutral values via `adv_seen`).
    at::Tensor pair = at::tensor(std::vector<double>{adv_seen ? adv_min : 1e300,
                                                     adv_seen ? -adv_max : 1e300},
                                 at::kDouble);
    if (comm_->device().is_cuda()) pair = pair.to(at::kFloat);
    pair = pair.to(comm_->device());
    at::Tensor gathered = at::empty({2 * comm_->world_size()}, pair.options());
    MEMR1_RETURN_IF_ERROR(comm_->AllGather(pair, gathered));
    gathered = gathered.to(at::kCPU, at::kDouble).view({-1, 2});
    m.advantage_min = gathered.select(1, 0).min().item<double>();
    m.advantage_max = -gathered.select(1, 1).min().item<double>();
  }

  PolicyLossOptions loss_options;
  loss_options.clip_eps_low = l.clip_eps_low();
  loss_options.clip_eps_high = l.clip_eps_high();
  loss_options.dual_clip = l.dual_clip();
  loss_options.aggregation = aggregation;
  loss_options.denominator = denominator;
  const bool kl_loss = use_kl && l.kl_mode() != LearnerConfig::REWARD_PENALTY;
  // loss, pg, kl, entropy, clip, approx_kl, vloss, vclip, importance weight sum (old_from_update)
  std::vector<double> local(9, 0.0);
  for (int epoch = 0; epoch < epochs; ++epoch) {
    ZeroGrads(policy_params_);
    MEMR1_RETURN_IF_ERROR(TorchCall("policy update", [&]() -> absl::Status {
      for (size_t k = 0; k < micro.size(); ++k) {
        const MicroBatch& mb = micro[k];
        MEMR1_ASSIGN_OR_RETURN(llm::TokenScores scores, ResponseScores(*models_.policy, mb, true));
        if (old_from_update) local[8] += take_old(k, scores.logprobs);
        PolicyLossResult pg = ClippedSurrogateLoss(scores.logprobs, old_logp[k], advantages[k],
                                                   mb.mask, loss_options, weights[k]);
        at::Tensor loss = pg.loss;
        const at::Tensor entropy = AggregateLoss(scores.entropies, mb.mask, aggregation, denominator);
        if (l.entropy_coef() > 0) loss = loss - l.entropy_coef() * entropy;
        double kl_value = 0;
        if (use_kl) {
          const at::Tensor kl = AggregateLoss(KlPerToken(scores.logprobs, ref_logp[k], estimator),
                                              mb.mask, aggregation, denominator);
          if (kl_loss) loss = loss + l.kl_coef() * kl;
          kl_value = kl.item<double>();
        }
        loss.backward();
        const double tokens = mb.mask.sum().item<double>();
        local[0] += loss.item<double>();
        local[1] += pg.loss.item<double>();
        local[2] += kl_value;
        local[3] += entropy.item<double>();
        local[4] += pg.clip_fraction * tokens;
        local[5] += pg.approx_kl * tokens;
      }
      return absl::OkStatus();
    }));
    MEMR1_RETURN_IF_ERROR(
        Update(policy_params_, *policy_optimizer_, *policy_schedule_, &m.grad_norm, &m.lr));

    if (ppo) {
      ZeroGrads(critic_params_);
      MEMR1_RETURN_IF_ERROR(TorchCall("critic update", [&]() -> absl::Status {
        for (size_t k = 0; k < micro.size(); ++k) {
          const MicroBatch& mb = micro[k];
          MEMR1_ASSIGN_OR_RETURN(at::Tensor values,
                                 ResponseValues(*models_.critic, *models_.value_head, mb));
          ValueLossResult v = ClippedValueLoss(values, old_values[k], returns[k], mb.mask,
                                               l.value_clip(), aggregation, denominator);
          (l.value_loss_coef() * v.loss).backward();
          local[6] += v.loss.item<double>();
          local[7] += v.clip_fraction * mb.mask.sum().item<double>();
        }
        return absl::OkStatus();
      }));
      MEMR1_RETURN_IF_ERROR(Update(critic_params_, *critic_optimizer_, *critic_schedule_,
                                   &m.critic_grad_norm, &m.critic_lr));
    }
  }
  MEMR1_ASSIGN_OR_RETURN(std::vector<double> global, AllReduceSums(local));
  const double tokens = std::max(global_tokens, 1.0);
  m.loss = global[0] / epochs;
  m.policy_loss = global[1] / epochs;
  m.kl = global[2] / epochs;
  m.entropy = global[3] / epochs;
  m.clip_fraction = global[4] / tokens / epochs;
  m.approx_kl = global[5] / tokens / epochs;
  m.value_loss = global[6] / epochs;
  m.value_clip_fraction = global[7] / tokens / epochs;
  if (old_from_update) m.importance_weight_mean = global[8] / tokens;
  ++steps_;
  m.step = steps_;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.tokens_per_second = m.seconds > 0 ? global_tokens / m.seconds : 0;
  return m;
}

absl::StatusOr<StepMetrics> Trainer::SupervisedStep(
    const std::vector<v1::Trajectory>& global_batch, double global_tokens) {
  const LearnerConfig& l = config_.learner();
  const auto start = std::chrono::steady_clock::now();
  const int64_t per_rank = static_cast<int64_t>(global_batch.size()) / comm_->world_size();
  const int64_t first = comm_->rank() * per_rank;
  const c10::Device device = models_.policy->device();
  StepMetrics m;
  m.supervised = true;
  m.tokens = static_cast<int64_t>(global_tokens);
  double local[2] = {0, 0};  // NLL sum, correct tokens
  // This rank's share, shortest first, so that a micro-batch pads its rows to similar lengths
  // (demonstrations of both agents mixed pad about a third of every row otherwise). The loss
  // sums over the global batch's tokens, so the order changes no gradient, only the order of
  // a sum.
  std::vector<const v1::Trajectory*> share;
  for (int64_t i = 0; i < per_rank; ++i) share.push_back(&global_batch[first + i]);
  std::stable_sort(share.begin(), share.end(), [](const v1::Trajectory* a,
                                                  const v1::Trajectory* b) {
    return a->prompt_ids_size() + a->response_ids_size() <
           b->prompt_ids_size() + b->response_ids_size();
  });
  ZeroGrads(policy_params_);
  MEMR1_RETURN_IF_ERROR(TorchCall("supervised update", [&]() -> absl::Status {
    for (int64_t b = 0; b < per_rank; b += l.micro_batch_size()) {
      const std::vector<const v1::Trajectory*> ts(
          share.begin() + b, share.begin() + std::min<int64_t>(per_rank, b + l.micro_batch_size()));
      MEMR1_ASSIGN_OR_RETURN(MicroBatch mb, MakeMicroBatch(ts, b, device, false));
      // The LM head runs on the response positions only: a long prompt costs its hidden states
      // but no [prompt, vocab] logits.
      MEMR1_ASSIGN_OR_RETURN(at::Tensor hidden, models_.policy->Hidden(mb.input));
      const at::Tensor positions =
          mb.index.unsqueeze(2).expand({mb.index.size(0), mb.index.size(1), hidden.size(2)});
      const at::Tensor logits = models_.policy->LmHead(hidden.gather(1, positions));
      const SupervisedLossResult loss =
          SupervisedLoss(logits, mb.targets.gather(1, mb.index), mb.mask, global_tokens);
      loss.loss.backward();
      local[0] += loss.nll_sum;
      local[1] += loss.correct;
    }
    return absl::OkStatus();
  }));
  MEMR1_RETURN_IF_ERROR(
      Update(policy_params_, *policy_optimizer_, *policy_schedule_, &m.grad_norm, &m.lr));
  MEMR1_ASSIGN_OR_RETURN(const std::vector<double> sums, AllReduceSums({local[0], local[1]}));
  const double tokens = std::max(global_tokens, 1.0);
  m.loss = sums[0] / tokens;
  m.token_accuracy = sums[1] / tokens;
  ++steps_;
  m.step = steps_;
  m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  m.tokens_per_second = m.seconds > 0 ? global_tokens / m.seconds : 0;
  return m;
}

absl::StatusOr<std::string> Trainer::Save(CheckpointManager& manager, const std::string& config_yaml,
                                          const std::string& trainer_state_json) {
  CheckpointData data;
  data.step = steps_;
  data.config_yaml = config_yaml;
  data.trainer_state_json = trainer_state_json;
  for (auto& [name, p] : models_.policy->NamedParameters()) data.model["policy/" + name] = p;
  for (auto& [key, t] : policy_optimizer_->StateDict()) data.rank_state["policy_optimizer/" + key] = t;
  if (critic_optimizer_ != nullptr) {
    for (auto& [name, p] : models_.critic->NamedParameters()) data.model["critic/" + name] = p;
    data.model["value_head/weight"] = models_.value_head->weight();
    data.model["value_head/bias"] = models_.value_head->bias();
    for (auto& [key, t] : critic_optimizer_->StateDict()) data.rank_state["critic_optimizer/" + key] = t;
  }
  data.rank_state["rng/cpu"] = CaptureCpuRngState();
  data.rank_state["trainer/steps"] = at::tensor(std::vector<int64_t>{steps_}, at::kLong);
  const std::string tokenizer_source = config_.tokenizer().path().empty()
                                           ? config_.model().path()
                                           : config_.tokenizer().path();
  auto writer = [&](const std::string& dir) -> absl::Status {
    // The policy (and critic) as Hugging Face model directories, with the tokenizer files.
    const std::string policy_dir = (fs::path(dir) / "policy").string();
    MEMR1_RETURN_IF_ERROR(llm::SaveCausalLM(*models_.policy, policy_dir));
    std::error_code ec;
    if (fs::is_directory(tokenizer_source, ec)) {
      for (const auto& entry : fs::directory_iterator(tokenizer_source, ec)) {
        const std::string name = entry.path().filename().string();
        if (absl::StartsWith(name, "tokenizer") || name == "special_tokens_map.json" ||
            name == "generation_config.json" || name == "vocab.json" || name == "merges.txt") {
          fs::copy_file(entry.path(), fs::path(policy_dir) / name,
                        fs::copy_options::overwrite_existing, ec);
          if (ec) return absl::InternalError(absl::StrCat("copying ", name, ": ", ec.message()));
        }
      }
    }
    if (critic_optimizer_ != nullptr) {
      const std::string critic_dir = (fs::path(dir) / "critic").string();
      MEMR1_RETURN_IF_ERROR(llm::SaveCausalLM(*models_.critic, critic_dir));
      MEMR1_RETURN_IF_ERROR(models_.value_head->Save(critic_dir));
    }
    return absl::OkStatus();
  };
  return manager.Save(data, writer);
}

absl::StatusOr<std::string> Trainer::Restore(const CheckpointData& data) {
  auto copy_into = [&](const std::string& prefix,
                       const std::vector<std::pair<std::string, at::Tensor>>& params) -> absl::Status {
    // Check everything before the first copy, so a mismatch leaves the model unchanged.
    for (const auto& [name, p] : params) {
      auto it = data.model.find(prefix + name);
      if (it == data.model.end()) {
        return absl::FailedPreconditionError(absl::StrCat("checkpoint has no tensor ", prefix, name));
      }
      if (it->second.sizes() != p.sizes()) {
        return absl::FailedPreconditionError(absl::StrCat("checkpoint tensor ", prefix, name,
                                                          " has another shape than the model"));
      }
    }
    return TorchCall("restoring weights", [&] {
      at::NoGradGuard no_grad;
      for (const auto& [name, p] : params) p.copy_(data.model.at(prefix + name));
    });
  };
  auto sub_state = [&](const std::string& prefix) {
    std::map<std::string, at::Tensor> out;
    for (const auto& [key, t] : data.rank_state) {
      if (absl::StartsWith(key, prefix)) out[key.substr(prefix.size())] = t;
    }
    return out;
  };
  MEMR1_RETURN_IF_ERROR(copy_into("policy/", models_.policy->NamedParameters()));
  MEMR1_RETURN_IF_ERROR(policy_optimizer_->LoadStateDict(sub_state("policy_optimizer/")));
  if (critic_optimizer_ != nullptr) {
    std::vector<std::pair<std::string, at::Tensor>> critic = models_.critic->NamedParameters();
    MEMR1_RETURN_IF_ERROR(copy_into("critic/", critic));
    MEMR1_RETURN_IF_ERROR(copy_into("value_head/", {{"weight", models_.value_head->weight()},
                                                    {"bias", models_.value_head->bias()}}));
    MEMR1_RETURN_IF_ERROR(critic_optimizer_->LoadStateDict(sub_state("critic_optimizer/")));
  }
  auto rng = data.rank_state.find("rng/cpu");
  if (rng == data.rank_state.end()) {
    return absl::FailedPreconditionError("checkpoint has no RNG state");
  }
  MEMR1_RETURN_IF_ERROR(RestoreCpuRngState(rng->second));
  steps_ = data.step;
  return data.trainer_state_json;
}

absl::StatusOr<std::vector<double>> Trainer::AllReduceSums(std::vector<double> values) const {
  at::Tensor t = at::tensor(values, at::kDouble).to(comm_->device());
  if (comm_->device().is_cuda()) t = t.to(at::kFloat);
  MEMR1_RETURN_IF_ERROR(comm_->AllReduceSum(t));
  t = t.to(at::kCPU, at::kDouble);
  return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
}

absl::Status Trainer::Update(std::vector<at::Tensor>& params, ShardedAdamW& optimizer,
                             const LrSchedule& schedule, double* grad_norm, double* lr) {
  const v1::LearnerConfig& l = config_.learner();
  MEMR1_RETURN_IF_ERROR(
      AllReduceGradients(params, *comm_, int64_t{l.bucket_mb()} << 20).status());
  *grad_norm = ClipGradNorm(params, l.max_grad_norm());
  *lr = schedule.LearningRate(optimizer.steps());
  MEMR1_RETURN_IF_ERROR(optimizer.Step(*lr));
  ZeroGrads(params);
  return absl::OkStatus();
}

}  // namespace memr1::learner
