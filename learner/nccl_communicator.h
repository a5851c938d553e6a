#pragma once

// NCCL collectives over CUDA tensors, one GPU per rank. Built only when nccl.h and the CUDA
// runtime are found (MEMR1_WITH_NCCL); the processes are launched by mpirun/srun and rank 0's
// ncclUniqueId is broadcast over MPI.
//
// Device: the rank's GPU is its node-local rank (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID or
// LOCAL_RANK) modulo the number of visible devices.
//
// Streams: LibTorch 1.13 as shipped here has no CUDA headers, so the communicator cannot join
// LibTorch's current stream. Each collective therefore synchronises the device first (the
// kernels producing the input are finished), runs on the communicator's own stream and waits
// for it, so a returned call is complete. This costs overlap, not correctness.
//
// Thread safety: see Communicator.

#include <memory>
#include <string>

#include "absl/time/time.h"

#include "learner/communicator.h"

namespace memr1::learner {

class NcclCommunicator : public Communicator {
 public:
  // Initialises MPI if needed, selects the rank's GPU and creates the NCCL communicator.
  // FailedPrecondition when no CUDA device is visible.
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Create();
  // Joins a group formed outside MPI (weight_broadcast.h: learner rank 0 and the actors) on
  // CUDA device `device`: every member passes the same `unique_id` (NewNcclGroupId) and `world`.
  // The communicator is created non-blocking so that a member that never joins ends the wait
  // at `deadline` (DeadlineExceeded, the half-formed communicator aborted).
  static absl::StatusOr<std::unique_ptr<NcclCommunicator>> Join(const std::string& unique_id,
                                                                int rank, int world, int device,
                                                                absl::Time deadline);
  ~NcclCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string name() const override { return "nccl"; }
  at::Device device() const override { return at::Device(at::kCUDA, device_); }
  absl::Status AllReduceSum(at::Tensor& tensor) override;
  absl::Status AllGather(const at::Tensor& input, at::Tensor& output) override;
  absl::Status Broadcast(at::Tensor& tensor, int root) override;
  absl::Status Barrier() override;

 private:
  struct State;
  // Waits out ncclInProgress of a non-blocking communicator (Join); blocking ones return the
  // final code at once.
  absl::Status Settle(int code, const char* what);
  explicit NcclCommunicator(std::unique_ptr<State> state, int rank, int world, int device);
  std::unique_ptr<State> state_;
  int rank_;
  int world_;
  int device_;
};

// Number of CUDA devices visible to this process (0 without a driver or GPU).
int CudaDeviceCount();

}  // namespace memr1::learner
