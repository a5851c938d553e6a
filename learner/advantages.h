#pragma once

// Advantage estimators: GAE for PPO (with a critic), group-relative advantages for GRPO, and
// leave-one-out (RLOO) as a critic-free alternative.
//
// Thread safety: pure functions.

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"

namespace memr1::learner {

struct GaeResult {
  at::Tensor advantages;  // [B, T], zero where mask == 0
  at::Tensor returns;     // [B, T], advantages + values, zero where mask == 0
};

// Generalized advantage estimation over the response tokens of a padded batch.
// `rewards`, `values` and `mask` are [B, T] (float); mask is 1 for policy tokens and 0 for
// padding and inserted observation tokens. The recursion runs over policy tokens only: a masked
// position gets advantage 0 and is passed through (the next policy token's value and running
// advantage carry over it), so observation tokens neither bootstrap nor discount. Rewards at
// masked positions must be zero (InvalidArgument otherwise). Past the last policy token the
// value is 0 (episodes end with their response). Results are detached.
absl::StatusOr<GaeResult> ComputeGae(const at::Tensor& rewards, const at::Tensor& values,
                                     const at::Tensor& mask, double gamma, double lambda);

// (x - mean) / (std + eps) over the positions where mask == 1 (the PPO advantage
// normalisation); masked positions become 0. Statistics use the population variance.
at::Tensor MaskedWhiten(const at::Tensor& x, const at::Tensor& mask, double eps = 1e-8);

struct GroupAdvantages {
  std::vector<double> advantages;  // one per input reward, in input order
  int64_t num_groups = 0;
  // Groups whose rewards were all equal: they carry no learning signal, contribute advantage 0
  // and are counted so that runs can report how much of a batch was wasted.
  int64_t num_degenerate_groups = 0;
};

// GRPO: a_i = r_i - mean(group), divided by (std(group) + eps) when `std_normalize` (sample
// standard deviation, n - 1, as in DeepSeekMath/verl). Groups are formed by equal
// `group_ids` (any order); sizes may differ. InvalidArgument if the two vectors differ in size.
absl::StatusOr<GroupAdvantages> GroupRelativeAdvantages(const std::vector<double>& rewards,
                                                        const std::vector<std::string>& group_ids,
                                                        bool std_normalize, double eps = 1e-6);

// RLOO: a_i = r_i - mean of the other members of its group = n/(n-1) (r_i - mean(group)).
// A group of one member has advantage 0 and counts as degenerate, as does a group of equal
// rewards.
absl::StatusOr<GroupAdvantages> LeaveOneOutAdvantages(const std::vector<double>& rewards,
                                                      const std::vector<std::string>& group_ids);

}  // namespace memr1::learner
