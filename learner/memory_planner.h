#pragma once

// Per-GPU memory estimate of a learner job, and advice when it does not fit.
//
// The model of memory (bytes per GPU; P parameters, b bytes per element of the compute dtype,
// W = data-parallel ranks = GPUs, one rank per GPU):
//   resident      policy weights P*b and gradients P*b; AdamW state 12*P (fp32 master, m, v)
//                 divided by W with ZeRO-1 and on the host with optimizer_offload; reference
//                 weights P*b when kl_coef > 0 (unless taken from trajectories); for PPO the
//                 critic's weights, gradients and AdamW state likewise; a runtime reserve (CUDA
//                 context, allocator fragmentation) and the gradient all-reduce bucket.
//   training      activations of one micro-batch of micro_batch_size x (max prompt + max
//                 response) tokens: per layer and token b*(7h + 2*kv*d + 4i) + 16h bytes (what
//                 autograd keeps for RMSNorm in fp32, attention with a fused SDPA kernel, SwiGLU),
//                 or with activation checkpointing b*h per layer and token plus one layer's
//                 full activations; and the logits of the response tokens, (b + 12) bytes per
//                 vocabulary entry (fp32 log-softmax, its gradient and the logits' gradient).
//   optimizer     the ZeRO-1 all-gather chunk buffers ((W + 1) x 16M elements at most) and two
//   step          fp32 temporaries of the owned slice (on the host with offload).
//   rollout       the KV cache of this GPU's share of the global batch at full length
//                 (2 * layers * kv * d * b per token), when actors share the learner's GPUs
//                 (learner.colocated_rollout and PlanOptions::colocated_rollout).
// Peak = resident + the largest of the three phases. These are estimates for planning; the
// real peak also depends on the allocator and on kernels.
//
// Thread safety: pure functions.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "learner/model_shapes.h"
#include "memr1/v1/config.pb.h"

namespace memr1::learner {

struct PlanOptions {
  int num_gpus = 1;
  double gpu_memory_bytes = 80.0 * (1ull << 30);
  // Whether the rollout engine's KV cache may share the learner's GPUs (false overrides
  // learner.colocated_rollout).
  bool colocated_rollout = true;
  // CUDA context and allocator fragmentation.
  double runtime_reserve_bytes = 2.0 * (1ull << 30);
};

struct MemoryItem {
  std::string phase;  // "resident", "training", "optimizer step", "rollout"
  std::string name;
  double bytes = 0;
};

struct MemoryPlan {
  ModelShape policy;
  ModelShape critic;  // PPO only
  std::vector<MemoryItem> items;
  double resident_bytes = 0;
  double training_bytes = 0;
  double step_bytes = 0;
  double rollout_bytes = 0;
  double peak_bytes = 0;
  double host_bytes = 0;  // offloaded optimizer state per rank
  bool fits = false;
  // Single changes that would make a job that does not fit fit (or help most), with their peak.
  std::vector<std::string> advice;
};

// Estimates `config` on `options.num_gpus` GPUs. Model shapes come from model.path (and
// learner.critic_model_path) via ResolveModelShape. InvalidArgument for num_gpus < 1 or a
// non-positive memory size.
absl::StatusOr<MemoryPlan> PlanMemory(const v1::JobConfig& config, const PlanOptions& options);

// The plan as a human-readable table with the verdict and advice.
std::string FormatMemoryPlan(const v1::JobConfig& config, const PlanOptions& options,
                             const MemoryPlan& plan);

// Parses "80GiB", "80G", "141GB", "81920MiB", "85899345920" (bytes). GB/MB are decimal,
// GiB/G/MiB/M binary.
absl::StatusOr<double> ParseByteSize(const std::string& text);

}  // namespace memr1::learner
