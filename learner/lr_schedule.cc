#include "learner/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace memr1::learner {

absl::Status LrScheduleOptions::Validate() const {
  if (!(base_lr > 0)) return absl::InvalidArgumentError("learning rate must be > 0");
  if (warmup_steps < 0) return absl::InvalidArgumentError("warmup_steps must be >= 0");
  if (total_steps < 1) return absl::InvalidArgumentError("total_steps must be >= 1");
  if (warmup_steps > total_steps) {
    return absl::InvalidArgumentError(absl::StrCat("warmup_steps (", warmup_steps,
                                                   ") exceeds total_steps (", total_steps, ")"));
  }
  if (min_lr_ratio < 0 || min_lr_ratio > 1) {
    return absl::InvalidArgumentError("min_lr_ratio must be in [0, 1]");
  }
  return absl::OkStatus();
}

double LrSchedule::LearningRate(int64_t step) const {
  const LrScheduleOptions& o = options_;
  if (step < o.warmup_steps) {
    return o.base_lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  }
  if (o.kind == LrScheduleOptions::Kind::kConstant) return o.base_lr;
  const int64_t decay_steps = std::max<int64_t>(o.total_steps - o.warmup_steps, 1);
  const double progress =
      std::min(1.0, static_cast<double>(step - o.warmup_steps) / static_cast<double>(decay_steps));
  const double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return o.base_lr * (o.min_lr_ratio + (1.0 - o.min_lr_ratio) * cosine);
}

}  // namespace memr1::learner
