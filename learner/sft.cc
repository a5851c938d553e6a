#include "learner/sft.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)

#include <algorithm>

namespace memr1::learner {

SupervisedLossResult SupervisedLoss(const at::Tensor& logits, const at::Tensor& targets,
                                    const at::Tensor& mask, double denominator) {
  const at::Tensor logp = at::log_softmax(logits.to(at::kFloat), -1);
  const at::Tensor index = targets.to(at::kLong).unsqueeze(2);
  const at::Tensor m = mask.to(at::kFloat);
  const at::Tensor nll = -logp.gather(2, index).squeeze(2) * m;
  SupervisedLossResult result;
  {
    at::NoGradGuard no_grad;
    result.tokens = m.sum().item<double>();
    result.nll_sum = nll.detach().sum().item<double>();
    const at::Tensor hit = logits.detach().argmax(-1).eq(targets.to(at::kLong)).to(at::kFloat);
    result.correct = (hit * m).sum().item<double>();
  }
  const double divide_by = denominator > 0 ? denominator : std::max(result.tokens, 1.0);
  result.loss = nll.sum() / divide_by;
  return result;
}

}  // namespace memr1::learner
