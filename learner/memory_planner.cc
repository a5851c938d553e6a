#include "learner/memory_planner.h"

#include <algorithm>
#include <cctype>
#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace memr1::learner {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

double DtypeBytes(const v1::JobConfig& config) {
  return config.model().dtype() == v1::ModelConfig::FLOAT32 ? 4.0 : 2.0;
}

std::string Gib(double bytes) { return absl::StrFormat("%.1f GiB", bytes / kGiB); }

// Activation bytes of one micro-batch through one model.
double ActivationBytes(const ModelShape& s, double b, double tokens, bool checkpointing) {
  const double h = s.hidden_size, kvd = s.num_kv_heads * s.head_dim, i = s.intermediate_size;
  const double per_layer_token = b * (7 * h + 2 * kvd + 4 * i) + 16 * h;
  if (!checkpointing) return s.num_layers * tokens * per_layer_token;
  return s.num_layers * tokens * b * h + tokens * per_layer_token;
}

absl::StatusOr<MemoryPlan> Estimate(const v1::JobConfig& config, const PlanOptions& options) {
  const v1::LearnerConfig& learner = config.learner();
  const v1::SamplingConfig& sampling = config.actor().sampling();
  MemoryPlan plan;
  MEMR1_ASSIGN_OR_RETURN(plan.policy, ResolveModelShape(config.model().path()));
  const bool ppo = learner.algorithm() == v1::LearnerConfig::PPO;
  const bool sft = learner.algorithm() == v1::LearnerConfig::SFT;  // no reference, no rollout
  if (ppo) {
    if (learner.critic_model_path().empty()) {
      plan.critic = plan.policy;
    } else {
      MEMR1_ASSIGN_OR_RETURN(plan.critic, ResolveModelShape(learner.critic_model_path()));
    }
  }
  const double b = DtypeBytes(config);
  const double world = options.num_gpus;
  const double shards = learner.zero_stage() >= 1 ? world : 1;
  const bool offload = learner.optimizer_offload();
  const bool checkpointing = config.model().activation_checkpointing();
  const double p = static_cast<double>(plan.policy.NumParameters());
  const double pc = ppo ? static_cast<double>(plan.critic.NumParameters()) : 0;

  auto add = [&](const std::string& phase, const std::string& name, double bytes) {
    plan.items.push_back({phase, name, bytes});
  };
  // Resident.
  add("resident", "policy weights", p * b);
  add("resident", "policy gradients", p * b);
  const std::string sharding = shards > 1 ? absl::StrCat("ZeRO-1, 1/", shards) : "unsharded";
  if (offload) {
    plan.host_bytes += 12 * p / shards;
  } else {
    add("resident", absl::StrCat("policy AdamW state (", sharding, ")"), 12 * p / shards);
  }
  if (!sft && learner.kl_coef() > 0 && !learner.reference_from_trajectories()) {
    add("resident", "reference weights", p * b);
  }
  if (ppo) {
    add("resident", "critic weights", pc * b);
    add("resident", "critic gradients", pc * b);
    if (offload) {
      plan.host_bytes += 12 * pc / shards;
    } else {
      add("resident", absl::StrCat("critic AdamW state (", sharding, ")"), 12 * pc / shards);
    }
  }
  add("resident", "gradient all-reduce bucket (float32)", learner.bucket_mb() * 1024.0 * 1024.0);
  add("resident", "runtime reserve (CUDA context, fragmentation)", options.runtime_reserve_bytes);

  // Training phase (policy and critic passes run one after the other: the larger counts).
  const double seq = sampling.max_prompt_tokens() + sampling.max_response_tokens();
  const double tokens = learner.micro_batch_size() * seq;
  const double response_tokens = static_cast<double>(learner.micro_batch_size()) *
                                 sampling.max_response_tokens();
  const double policy_act = ActivationBytes(plan.policy, b, tokens, checkpointing);
  const double critic_act = ppo ? ActivationBytes(plan.critic, b, tokens, checkpointing) : 0;
  const double entropy_extra = learner.entropy_coef() > 0 ? 4 : 0;
  const double logits = response_tokens * plan.policy.vocab_size * (b + 12 + entropy_extra);
  const std::string act_name = absl::StrCat(
      "activations, ", learner.micro_batch_size(), " x ", static_cast<int64_t>(seq), " tokens",
      checkpointing ? " (checkpointed)" : " (no checkpointing)");
  if (policy_act + logits >= critic_act) {
    add("training", absl::StrCat("policy ", act_name), policy_act);
    add("training", "policy logits and log-softmax of response tokens", logits);
  } else {
    add("training", absl::StrCat("critic ", act_name), critic_act);
  }
  // Optimizer step.
  const double pmax = std::max(p, pc);
  if (shards > 1) {
    const double chunk = std::min(std::ceil(pmax / shards), 16.0 * 1024 * 1024);
    add("optimizer step", "ZeRO-1 all-gather chunk buffers", (shards + 1) * chunk * b);
  }
  if (!offload) add("optimizer step", "fp32 temporaries of the owned slice", 8 * pmax / shards);
  // Rollout.
  if (!sft && options.colocated_rollout && learner.colocated_rollout()) {
    const double sequences = std::max(1.0, std::ceil(learner.global_batch_size() / world));
    const double kv_per_token = 2.0 * plan.policy.num_layers * plan.policy.num_kv_heads *
                                plan.policy.head_dim * b;
    add("rollout",
        absl::StrCat("KV cache, ", static_cast<int64_t>(sequences), " sequences x ",
                     static_cast<int64_t>(seq), " tokens"),
        sequences * seq * kv_per_token);
  }
  for (const auto& item : plan.items) {
    if (item.phase == "resident") plan.resident_bytes += item.bytes;
    if (item.phase == "training") plan.training_bytes += item.bytes;
    if (item.phase == "optimizer step") plan.step_bytes += item.bytes;
    if (item.phase == "rollout") plan.rollout_bytes += item.bytes;
  }
  plan.peak_bytes = plan.resident_bytes +
                    std::max({plan.training_bytes, plan.step_bytes, plan.rollout_bytes});
  plan.fits = plan.peak_bytes <= options.gpu_memory_bytes;
  return plan;
}

}  // namespace

absl::StatusOr<MemoryPlan> PlanMemory(const v1::JobConfig& config, const PlanOptions& options) {
  if (options.num_gpus < 1) return absl::InvalidArgumentError("--gpus must be at least 1");
  if (!(options.gpu_memory_bytes > 0)) {
    return absl::InvalidArgumentError("--gpu-memory must be positive");
  }
  MEMR1_ASSIGN_OR_RETURN(MemoryPlan plan, Estimate(config, options));
  if (plan.fits) return plan;

  // One change at a time, in the order a user would reach for them.
  struct Change {
    std::string description;
    std::function<void(v1::JobConfig*, PlanOptions*)> apply;
  };
  std::vector<Change> changes;
  const v1::LearnerConfig& l = config.learner();
  if (!config.model().activation_checkpointing()) {
    changes.push_back({"model.activation_checkpointing: true", [](v1::JobConfig* c, PlanOptions*) {
                         c->mutable_model()->set_activation_checkpointing(true);
                       }});
  }
  if (l.zero_stage() == 0 && options.num_gpus > 1) {
    changes.push_back({"learner.zero_stage: 1",
                       [](v1::JobConfig* c, PlanOptions*) { c->mutable_learner()->set_zero_stage(1); }});
  }
  if (config.model().dtype() == v1::ModelConfig::FLOAT32) {
    changes.push_back({"model.dtype: bfloat16", [](v1::JobConfig* c, PlanOptions*) {
                         c->mutable_model()->set_dtype(v1::ModelConfig::BFLOAT16);
                       }});
  }
  if (l.micro_batch_size() > 1) {
    changes.push_back({"learner.micro_batch_size: 1", [](v1::JobConfig* c, PlanOptions*) {
                         c->mutable_learner()->set_micro_batch_size(1);
                       }});
  }
  if (!l.optimizer_offload()) {
    changes.push_back({"learner.optimizer_offload: true", [](v1::JobConfig* c, PlanOptions*) {
                         c->mutable_learner()->set_optimizer_offload(true);
                       }});
  }
  if (l.kl_coef() > 0 && !l.reference_from_trajectories()) {
    changes.push_back({"learner.reference_from_trajectories: true (actors score the reference)",
                       [](v1::JobConfig* c, PlanOptions*) {
                         c->mutable_learner()->set_reference_from_trajectories(true);
                       }});
  }
  if (options.colocated_rollout && l.colocated_rollout()) {
    changes.push_back({"learner.colocated_rollout: false (actors on GPUs of their own)",
                       [](v1::JobConfig* c, PlanOptions*) {
                         c->mutable_learner()->set_colocated_rollout(false);
                       }});
  }
  changes.push_back({"all of the above together", [changes](v1::JobConfig* c, PlanOptions* o) {
                       for (const auto& change : changes) change.apply(c, o);
                     }});
  for (const auto& change : changes) {
    v1::JobConfig changed = config;
    PlanOptions changed_options = options;
    change.apply(&changed, &changed_options);
    auto alternative = Estimate(changed, changed_options);
    if (!alternative.ok()) continue;
    plan.advice.push_back(absl::StrCat(change.description, " -> peak ", Gib(alternative->peak_bytes),
                                       alternative->fits ? " (fits)" : " (still too large)"));
  }
  // The smallest power-of-two GPU count that fits as configured.
  for (int gpus = options.num_gpus * 2; gpus <= 1024; gpus *= 2) {
    PlanOptions more = options;
    more.num_gpus = gpus;
    auto alternative = Estimate(config, more);
    if (alternative.ok() && alternative->fits) {
      plan.advice.push_back(absl::StrCat("--gpus ", gpus, " (learner.num_ranks: ", gpus,
                                         ") -> peak ", Gib(alternative->peak_bytes), " (fits)"));
      break;
    }
  }
  return plan;
}

std::string FormatMemoryPlan(const v1::JobConfig& config, const PlanOptions& options,
                             const MemoryPlan& plan) {
  std::string out;
  const auto& l = config.learner();
  absl::StrAppendFormat(&out, "job %s: %s, %s on %d GPU(s) x %s\n", config.name(),
                        v1::LearnerConfig::Algorithm_Name(l.algorithm()),
                        v1::ModelConfig::DType_Name(config.model().dtype()), options.num_gpus,
                        Gib(options.gpu_memory_bytes));
  absl::StrAppendFormat(&out, "policy %s: %.2fB parameters\n", plan.policy.name,
                        plan.policy.NumParameters() / 1e9);
  if (l.algorithm() == v1::LearnerConfig::PPO) {
    absl::StrAppendFormat(&out, "critic %s: %.2fB parameters\n", plan.critic.name,
                          plan.critic.NumParameters() / 1e9);
  }
  std::string phase;
  for (const auto& item : plan.items) {
    if (item.phase != phase) {
      phase = item.phase;
      absl::StrAppend(&out, "  [", phase, "]\n");
    }
    absl::StrAppendFormat(&out, "    %-62s %10s\n", item.name, Gib(item.bytes));
  }
  absl::StrAppendFormat(&out, "  %-64s %10s\n", "resident", Gib(plan.resident_bytes));
  absl::StrAppendFormat(&out, "  %-64s %10s\n", "+ largest phase",
                        Gib(std::max({plan.training_bytes, plan.step_bytes, plan.rollout_bytes})));
  absl::StrAppendFormat(&out, "  %-64s %10s\n", "peak per GPU", Gib(plan.peak_bytes));
  if (plan.host_bytes > 0) {
    absl::StrAppendFormat(&out, "  %-64s %10s\n", "host memory per rank (offloaded AdamW state)",
                          Gib(plan.host_bytes));
  }
  if (plan.fits) {
    absl::StrAppendFormat(&out, "fits: %s of %s free per GPU\n",
                          Gib(options.gpu_memory_bytes - plan.peak_bytes),
                          Gib(options.gpu_memory_bytes));
  } else {
    absl::StrAppendFormat(&out, "does not fit: %s over %s per GPU. Changes that help:\n",
                          Gib(plan.peak_bytes - options.gpu_memory_bytes),
                          Gib(options.gpu_memory_bytes));
    for (const auto& advice : plan.advice) absl::StrAppend(&out, "  - ", advice, "\n");
  }
  return out;
}

absl::StatusOr<double> ParseByteSize(const std::string& text) {
  std::string s(absl::StripAsciiWhitespace(text));
  size_t split = 0;
  while (split < s.size() && (std::isdigit(static_cast<unsigned char>(s[split])) || s[split] == '.')) {
    ++split;
  }
  double value = 0;
  if (split == 0 || !absl::SimpleAtod(s.substr(0, split), &value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a memory size (expected e.g. 80GiB, 141GB, 81920MiB)"));
  }
  const std::string unit = absl::AsciiStrToLower(s.substr(split));
  double scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "k" || unit == "kib") scale = 1024.0;
  if (unit == "kb") scale = 1e3;
  if (unit == "m" || unit == "mib") scale = 1024.0 * 1024;
  if (unit == "mb") scale = 1e6;
  if (unit == "g" || unit == "gib") scale = kGiB;
  if (unit == "gb") scale = 1e9;
  if (unit == "t" || unit == "tib") scale = kGiB * 1024;
  if (unit == "tb") scale = 1e12;
  if (scale == 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': unknown unit '", unit,
                                                   "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)"));
  }
  return value * scale;
}

}  // namespace memr1::learner
