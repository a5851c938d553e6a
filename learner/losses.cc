#include "learner/losses.h"

#include <ATen/ATen.h>

namespace memr1::learner {

namespace {

double MaskedFraction(const at::Tensor& flags, const at::Tensor& mask) {
  const double count = mask.sum().item<double>();
  if (count == 0) return 0;
  return (flags.to(mask.scalar_type()) * mask).sum().item<double>() / count;
}

}  // namespace

at::Tensor AggregateLoss(const at::Tensor& values, const at::Tensor& mask,
                         LossAggregation aggregation, double denominator) {
  const at::Tensor m = mask.to(values.scalar_type());
  if (aggregation == LossAggregation::kTokenMean) {
    const at::Tensor total = (values * m).sum();
    if (denominator > 0) return total / denominator;
    return total / m.sum().clamp_min(1);
  }
  const at::Tensor per_sequence = (values * m).sum(1) / m.sum(1).clamp_min(1);
  if (denominator > 0) return per_sequence.sum() / denominator;
  return per_sequence.sum() / std::max<int64_t>(values.size(0), 1);
}

PolicyLossResult ClippedSurrogateLoss(const at::Tensor& logp, const at::Tensor& old_logp,
                                      const at::Tensor& advantages, const at::Tensor& mask,
                                      const PolicyLossOptions& options,
                                      const at::Tensor& importance_weights) {
  const at::Tensor old = old_logp.detach();
  const at::Tensor adv = advantages.detach();
  const at::Tensor log_ratio = logp - old;
  const at::Tensor ratio = log_ratio.exp();
  const at::Tensor unclipped = -adv * ratio;
  const at::Tensor clipped =
      -adv * ratio.clamp(1.0 - options.clip_eps_low, 1.0 + options.clip_eps_high);
  at::Tensor per_token = at::maximum(unclipped, clipped);
  PolicyLossResult result;
  {
    at::NoGradGuard no_grad;
    result.clip_fraction = MaskedFraction(clipped > unclipped, mask);
  }
  if (options.dual_clip > 0) {
    const at::Tensor bound = -adv * options.dual_clip;
    const at::Tensor negative = adv < 0;
    {
      at::NoGradGuard no_grad;
      result.dual_clip_fraction = MaskedFraction(negative.logical_and(per_token > bound), mask);
    }
    per_token = at::where(negative, at::minimum(per_token, bound), per_token);
  }
  if (importance_weights.defined()) per_token = per_token * importance_weights.detach();
  result.loss = AggregateLoss(per_token, mask, options.aggregation, options.denominator);
  {
    at::NoGradGuard no_grad;
    const at::Tensor m = mask.to(per_token.scalar_type());
    result.per_token = (per_token * m).detach();
    const double count = m.sum().item<double>();
    result.approx_kl = count == 0 ? 0 : (-log_ratio * m).sum().item<double>() / count;
  }
  return result;
}

at::Tensor KlPerToken(const at::Tensor& logp, const at::Tensor& ref_logp, KlEstimator estimator) {
  const at::Tensor diff = logp - ref_logp.detach();  // log p - log q
  switch (estimator) {
    case KlEstimator::kK1:
      return diff;
    case KlEstimator::kK2:
      return 0.5 * diff * diff;
    case KlEstimator::kK3:
      break;
  }
  // Clamp the exponent like verl does so one wild token cannot overflow to inf.
  const at::Tensor neg = (-diff).clamp(-20, 20);
  return neg.exp() - neg - 1;
}

at::Tensor TruncatedImportanceWeights(const at::Tensor& learner_logp,
                                      const at::Tensor& behaviour_logp, double cap) {
  at::NoGradGuard no_grad;
  return (learner_logp.detach() - behaviour_logp.detach()).exp().clamp_max(cap);
}

at::Tensor EntropyFromLogits(const at::Tensor& logits) {
  const at::Tensor x = logits.scalar_type() == at::kDouble ? logits : logits.to(at::kFloat);
  const at::Tensor log_probs = at::log_softmax(x, -1);
  return -(log_probs.exp() * log_probs).sum(-1);
}

ValueLossResult ClippedValueLoss(const at::Tensor& values, const at::Tensor& old_values,
                                 const at::Tensor& returns, const at::Tensor& mask, double clip,
                                 LossAggregation aggregation, double denominator) {
  const at::Tensor ret = returns.detach();
  const at::Tensor unclipped = (values - ret).pow(2);
  at::Tensor per_token = unclipped;
  ValueLossResult result;
  if (clip > 0) {
    const at::Tensor old = old_values.detach();
    const at::Tensor clipped_values = old + (values - old).clamp(-clip, clip);
    const at::Tensor clipped = (clipped_values - ret).pow(2);
    per_token = at::maximum(unclipped, clipped);
    at::NoGradGuard no_grad;
    result.clip_fraction = MaskedFraction(clipped > unclipped, mask);
  }
  result.loss = 0.5 * AggregateLoss(per_token, mask, aggregation, denominator);
  return result;
}

}  // namespace memr1::learner
