#pragma once

// Gradient synchronisation between data-parallel ranks and global-norm clipping.
//
// Thread safety: functions; callers serialise use of the communicator.

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "learner/communicator.h"

namespace memr1::learner {

struct GradSyncStats {
  int64_t buckets = 0;
  int64_t elements = 0;
};

// Sums the gradients of `params` over all ranks of `comm` and multiplies them by `scale`, in
// place. Gradients are packed in parameter order into float32 buckets of at most
// `bucket_bytes` (one collective per bucket instead of one per parameter; float32 so that
// bf16/fp16 gradients are summed without loss). A parameter without a gradient takes part with
// zeros (and gets a zero gradient) so that every rank issues identical collectives.
//
// Use scale = 1 when the losses are already normalised by global counts (see losses.h), or
// 1 / world_size to average per-rank means.
absl::StatusOr<GradSyncStats> AllReduceGradients(const std::vector<at::Tensor>& params,
                                                 Communicator& comm, int64_t bucket_bytes,
                                                 double scale = 1.0);

// The global L2 norm of the gradients of `params` (computed in float64), and, when it exceeds
// `max_norm` > 0, scales every gradient by max_norm / (norm + 1e-6). Returns the norm before
// clipping. Gradients must already be synchronised (every rank then computes the same norm).
double ClipGradNorm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace memr1::learner
