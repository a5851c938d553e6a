#pragma once

// Learning-rate schedules: linear warm-up, then constant or cosine decay.
//
// Thread safety: immutable after construction.

#include <cstdint>

#include "absl/status/status.h"

namespace memr1::learner {

struct LrScheduleOptions {
  enum class Kind { kConstant, kCosine };
  double base_lr = 1e-6;
  int64_t warmup_steps = 0;
  // Cosine decays from base_lr at the end of warm-up to min_lr_ratio * base_lr at total_steps
  // and stays there.
  int64_t total_steps = 1;
  Kind kind = Kind::kConstant;
  double min_lr_ratio = 0.0;

  absl::Status Validate() const;
};

class LrSchedule {
 public:
  explicit LrSchedule(const LrScheduleOptions& options) : options_(options) {}

  // The learning rate of optimizer step `step` (0-based: the first update is step 0). During
  // warm-up it rises linearly: base_lr * (step + 1) / warmup_steps.
  double LearningRate(int64_t step) const;

  const LrScheduleOptions& options() const { return options_; }

 private:
  LrScheduleOptions options_;
};

}  // namespace memr1::learner
