#pragma once

// Collective communication between the data-parallel ranks of a learner.
//
// Implementations: SingleProcessCommunicator (world of one, no MPI needed), MpiCommunicator
// (CPU tensors; processes launched by mpirun/srun) and, when built with NCCL, NcclCommunicator
// (CUDA tensors; its unique id is bootstrapped over MPI). Every rank must issue the same
// collectives in the same order with tensors of the same size and dtype; a mismatch is a
// programmer error that MPI/NCCL may report as a Status or may hang on.
//
// Thread safety: a Communicator is used by one thread at a time (collectives are ordered).

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::learner {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // "single", "mpi" or "nccl".
  virtual std::string name() const = 0;
  // Where this communicator's tensors live (CPU for single and mpi, the rank's GPU for nccl).
  virtual at::Device device() const { return at::Device(at::kCPU); }

  // Sums `tensor` over all ranks, in place. `tensor` must be contiguous, on this communicator's
  // device, of float32/float64/bfloat16/float16/int32/int64. Blocks until done.
  virtual absl::Status AllReduceSum(at::Tensor& tensor) = 0;

  // Gathers every rank's `input` (contiguous, n elements) into `output` (contiguous, world*n
  // elements, same dtype) in rank order. Blocks until done.
  virtual absl::Status AllGather(const at::Tensor& input, at::Tensor& output) = 0;

  // Copies `tensor` of rank `root` into `tensor` of every other rank. Blocks until done.
  virtual absl::Status Broadcast(at::Tensor& tensor, int root) = 0;

  // Returns once every rank has called Barrier.
  virtual absl::Status Barrier() = 0;
};

// A world of one: every collective is the identity.
class SingleProcessCommunicator : public Communicator {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string name() const override { return "single"; }
  absl::Status AllReduceSum(at::Tensor& tensor) override;
  absl::Status AllGather(const at::Tensor& input, at::Tensor& output) override;
  absl::Status Broadcast(at::Tensor& tensor, int root) override;
  absl::Status Barrier() override { return absl::OkStatus(); }
};

// Checks the common preconditions of AllGather (sizes, dtypes, contiguity).
absl::Status CheckAllGatherArgs(const at::Tensor& input, const at::Tensor& output, int world);

// Makes the communicator named by `kind` ("single", "mpi", "nccl"). "mpi" and "nccl"
// initialise MPI if needed; "nccl" is Unimplemented when built without NCCL and
// FailedPrecondition without a CUDA device.
absl::StatusOr<std::unique_ptr<Communicator>> MakeCommunicator(const std::string& kind);

}  // namespace memr1::learner
