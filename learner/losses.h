#pragma once

// The PPO/GRPO loss terms as pure tensor functions over padded [B, T] batches of response
// tokens. `mask` is 1 for policy tokens (trained on) and 0 for padding and inserted observation
// tokens. All functions are differentiable in their first (current-policy) argument and treat
// every other input as a constant (detached).
//
// Aggregation and the global denominator: with gradient accumulation over micro-batches and
// data-parallel ranks, a "token mean" must divide by the number of policy tokens of the whole
// global batch, not of the micro-batch, or the result depends on how the batch was split.
// Every aggregating function therefore takes `denominator`: the global token count
// (kTokenMean) or global sequence count (kSequenceMean). A value <= 0 means "this batch only".
//
// Thread safety: pure functions.

#include <ATen/core/Tensor.h>

namespace memr1::learner {

enum class LossAggregation {
  // sum over all policy tokens / number of policy tokens (every token weighs the same).
  kTokenMean,
  // mean over sequences of (per-sequence token mean) (every sequence weighs the same).
  kSequenceMean,
};

enum class KlEstimator {
  kK1,  // log p - log q
  kK2,  // (log p - log q)^2 / 2
  kK3,  // exp(log q - log p) - (log q - log p) - 1   (unbiased, non-negative)
};

// Reduces per-token `values` [B, T] under `mask` as described above. Returns a scalar.
at::Tensor AggregateLoss(const at::Tensor& values, const at::Tensor& mask,
                         LossAggregation aggregation, double denominator = 0);

struct PolicyLossOptions {
  double clip_eps_low = 0.2;   // lower clip 1 - eps_low
  double clip_eps_high = 0.2;  // upper clip 1 + eps_high ("clip higher" when larger)
  double dual_clip = 0;        // c > 1 bounds the loss of negative advantages at c*|A|; 0 = off
  LossAggregation aggregation = LossAggregation::kTokenMean;
  double denominator = 0;
};

struct PolicyLossResult {
  at::Tensor loss;                 // scalar, differentiable
  at::Tensor per_token;            // [B, T] unaggregated (masked) loss, detached
  double clip_fraction = 0;        // fraction of policy tokens where the clip was active
  double dual_clip_fraction = 0;   // fraction where the dual clip bound was active
  double approx_kl = 0;            // token mean of (old - new) log-prob, a PPO step-size probe
};

// Clipped surrogate: per token, with r = exp(logp - old_logp),
//   l = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)),
//   and with dual clip c for A < 0: l = min(l, -c A);
//   l *= importance_weights (when defined; the truncated rollout/learner correction).
// `logp` is the current policy's log-probs; `old_logp` the log-probs the advantages were
// computed for (learner recompute at the start of the step, or the behaviour log-probs).
PolicyLossResult ClippedSurrogateLoss(const at::Tensor& logp, const at::Tensor& old_logp,
                                      const at::Tensor& advantages, const at::Tensor& mask,
                                      const PolicyLossOptions& options,
                                      const at::Tensor& importance_weights = at::Tensor());

// Per-token KL estimate between the policy (`logp`) and the reference (`ref_logp`), [B, T].
// Differentiable in `logp`. Use it with AggregateLoss as a loss term, or detached as a reward
// penalty (rewards - coef * KlPerToken(...)).
at::Tensor KlPerToken(const at::Tensor& logp, const at::Tensor& ref_logp, KlEstimator estimator);

// Truncated importance weights min(exp(learner_logp - behaviour_logp), cap), detached: corrects
// for the mismatch between the rollout engine's sampling distribution and the learner's
// (different kernels, precision, or stale policy versions).
at::Tensor TruncatedImportanceWeights(const at::Tensor& learner_logp,
                                      const at::Tensor& behaviour_logp, double cap);

// Per-token entropy of the categorical distributions given by `logits` [B, T, V] -> [B, T],
// computed in float32 or wider. Differentiable.
at::Tensor EntropyFromLogits(const at::Tensor& logits);

struct ValueLossResult {
  at::Tensor loss;             // scalar, differentiable in `values`
  double clip_fraction = 0;    // fraction of tokens where the clipped branch was larger
};

// Clipped value loss: 0.5 * max((v - R)^2, (old_v + clip(v - old_v, -c, c) - R)^2), aggregated.
// `clip` == 0 gives the unclipped 0.5 (v - R)^2.
ValueLossResult ClippedValueLoss(const at::Tensor& values, const at::Tensor& old_values,
                                 const at::Tensor& returns, const at::Tensor& mask, double clip,
                                 LossAggregation aggregation, double denominator = 0);

}  // namespace memr1::learner
