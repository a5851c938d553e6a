#pragma once

// AdamW (decoupled weight decay, PyTorch's update rule) with optional ZeRO-1 sharding of the
// optimizer state over data-parallel ranks.
//
// The parameters are viewed as one flat vector of N elements in list order. Rank r of W owns
// the slice [r*S, min((r+1)*S, N)) with S = ceil(N / W) (plain data parallel: every rank owns
// everything). For its slice a rank keeps a float32 master copy of the parameters and the two
// Adam moments, so bf16/fp16 models still take updates far below their resolution (an actor lr
// of 1e-6 is lost entirely in bf16 arithmetic). A step updates the owned slice in float32,
// writes it back into the parameters and, when sharded, all-gathers the slices so that every
// rank ends the step with identical parameters. Per element the arithmetic is the same with
// and without sharding, so ZeRO-1 equals plain data parallel bit for bit.
//
// Memory per rank: 12 bytes x N / W for the state (in host memory with offload_state), plus
// (W + 1) x gather_chunk_elements of the parameter dtype while gathering.
//
// Thread safety: not thread safe; one training thread owns it. The parameters and the
// communicator must outlive it.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "absl/status/statusor.h"
#include "learner/communicator.h"

namespace memr1::learner {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  // ZeRO-1: shard master weights and moments over the communicator's ranks.
  bool shard_state = false;
  // Keep master weights and moments in host memory and update there (ZeRO-Offload style):
  // the GPU then holds only weights and gradients; each step moves the slice's gradients to
  // the host and the updated weights back.
  bool offload_state = false;
  // Elements all-gathered per collective when sharded (the gather buffers hold world + 1
  // chunks).
  int64_t gather_chunk_elements = int64_t{1} << 24;

  absl::Status Validate() const;
};

class ShardedAdamW {
 public:
  // `params` must be non-empty, of one floating dtype and device, and identical on every rank
  // (the caller broadcasts initial weights). `comm` is not owned.
  static absl::StatusOr<std::unique_ptr<ShardedAdamW>> Create(std::vector<at::Tensor> params,
                                                              const AdamWOptions& options,
                                                              Communicator* comm);

  // One update with learning rate `lr` from the parameters' current gradients, which must
  // already be synchronised over ranks (AllReduceGradients) and clipped. A parameter without a
  // gradient is treated as having a zero gradient (weight decay still applies). Collective when
  // sharded.
  absl::Status Step(double lr);

  // Updates applied so far (the bias-correction step count).
  int64_t steps() const { return steps_; }
  int64_t total_elements() const { return total_; }
  int64_t shard_begin() const { return begin_; }
  int64_t shard_end() const { return end_; }

  // This rank's state for a checkpoint: "master", "exp_avg", "exp_avg_sq" (float32 slices) and
  // "meta" (int64: steps, total elements, shard begin, shard end, world size, sharded).
  std::map<std::string, at::Tensor> StateDict() const;
  // Restores a StateDict. FailedPrecondition when it was saved with a different parameter
  // count, world size or sharding (resume with the same layout), InvalidArgument when tensors
  // are missing or malformed. On error the optimizer is unchanged.
  absl::Status LoadStateDict(const std::map<std::string, at::Tensor>& state);

 private:
  // A piece of one parameter inside the owned slice.
  struct Piece {
    size_t param;
    int64_t param_offset;  // first element within the parameter
    int64_t shard_offset;  // first element within the owned slice
    int64_t length;
  };

  ShardedAdamW(std::vector<at::Tensor> params, const AdamWOptions& options, Communicator* comm);
  at::Tensor GatherShardGradient() const;
  // All-gathers every rank's updated slice into the parameters.
  absl::Status GatherParameters();
  // Copies `values` into the flat parameter range starting at `begin`.
  void WriteFlatRange(int64_t begin, const at::Tensor& values);

  std::vector<at::Tensor> params_;
  AdamWOptions options_;
  Communicator* comm_;
  int64_t total_ = 0;
  int64_t shard_size_ = 0;  // S (padded slice length when sharded)
  int64_t begin_ = 0;
  int64_t end_ = 0;
  std::vector<Piece> pieces_;
  at::Tensor master_;
  at::Tensor exp_avg_;
  at::Tensor exp_avg_sq_;
  int64_t steps_ = 0;
};

}  // namespace memr1::learner
