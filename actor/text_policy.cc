#include "actor/text_policy.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace memr1::actor {

absl::Status SamplingOptions::Validate() const {
  if (!std::isfinite(temperature) || temperature < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling temperature must be >= 0, got ", temperature));
  }
  if (!(top_p > 0 && top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("sampling top_p must be in (0, 1], got ", top_p));
  }
  if (top_k < 0) {
    return absl::InvalidArgumentError(absl::StrCat("sampling top_k must be >= 0, got ", top_k));
  }
  if (max_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("sampling max_tokens must be >= 1, got ", max_tokens));
  }
  return absl::OkStatus();
}

}  // namespace memr1::actor
