#pragma once

// The supervised loss of learner.algorithm SFT (warm start, the paper's Memory-SFT baseline, and
// language-model pretraining): the negative log-likelihood of the trained response tokens given
// everything before them, i.e. masked next-token cross-entropy. Prompt tokens and response
// tokens with loss_mask 0 (inserted observations) are context only.
//
// Aggregation: a token mean over the global batch. Each micro-batch's summed NLL is divided by
// the number of trained tokens of the whole global batch (every rank holds it), so gradient
// accumulation over micro-batches and the all-reduce over ranks add up to the gradient of one
// big batch, however it is split.
//
// Thread safety: pure functions.

#include <ATen/core/Tensor.h>

namespace memr1::learner {

struct SupervisedLossResult {
  at::Tensor loss;     // scalar, differentiable in `logits`: masked NLL sum / denominator
  double nll_sum = 0;  // sum of -log p(target) over trained tokens
  double correct = 0;  // trained tokens whose most likely token (argmax) is the target
  double tokens = 0;   // trained tokens
};

// `logits` [B, T, V] (any float dtype; softmax taken in float32) at the positions that predict
// `targets` [B, T] (int64); `mask` [B, T] is 1 for trained tokens and 0 for context and padding.
// `denominator` > 0 is the global trained-token count; <= 0 means this batch's own count.
SupervisedLossResult SupervisedLoss(const at::Tensor& logits, const at::Tensor& targets,
                                    const at::Tensor& mask, double denominator);

}  // namespace memr1::learner
