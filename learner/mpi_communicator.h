#pragma once

// MPI collectives over CPU tensors.
//
// MPI is initialised (MPI_THREAD_FUNNELED) by the first Create() and finalised at process exit
// by an atexit handler, unless the program had initialised it itself (then the program
// finalises it). Run under `mpirun -np N` or `srun`; run directly, it is a world of one.
//
// Thread safety: see Communicator; all calls from the thread that created it.

#include <memory>

#include "learner/communicator.h"

namespace memr1::learner {

// Initialises MPI once per process (idempotent). Errors are Internal with MPI's message.
absl::Status EnsureMpiInitialized();

class MpiCommunicator : public Communicator {
 public:
  // A communicator over MPI_COMM_WORLD.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create();

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string name() const override { return "mpi"; }
  absl::Status AllReduceSum(at::Tensor& tensor) override;
  absl::Status AllGather(const at::Tensor& input, at::Tensor& output) override;
  absl::Status Broadcast(at::Tensor& tensor, int root) override;
  absl::Status Barrier() override;

  // Broadcasts raw bytes from `root` (used to bootstrap NCCL's unique id).
  absl::Status BroadcastBytes(void* data, size_t size, int root);

 private:
  MpiCommunicator(int rank, int world) : rank_(rank), world_(world) {}
  int rank_;
  int world_;
};

}  // namespace memr1::learner
