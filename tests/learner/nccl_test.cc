// The NCCL communicator on a real GPU (skipped without one). LibTorch here may be a CPU build,
// so device buffers come from cudaMalloc and are wrapped as CUDA tensors with from_blob; the
// communicator only needs their pointer, size, dtype and device.

#include <cuda_runtime_api.h>

#include <vector>

#include <torch/torch.h>

#include "gtest/gtest.h"
#include "learner/nccl_communicator.h"
#include "learner/weight_broadcast.h"

namespace memr1::learner {
namespace {

TEST(NcclCommunicatorTest, AllReduceAllGatherBroadcastOnOneGpu) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  auto comm = NcclCommunicator::Create();
  ASSERT_TRUE(comm.ok()) << comm.status();
  const int world = (*comm)->world_size();
  std::vector<float> host = {1, 2, 3, 4};
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&device), sizeof(float) * 4 * (world + 1)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(device, host.data(), sizeof(float) * 4, cudaMemcpyHostToDevice), cudaSuccess);
  const auto cuda = torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA, (*comm)->device().index());
  at::Tensor x = torch::from_blob(device, {4}, cuda);
  ASSERT_TRUE((*comm)->AllReduceSum(x).ok());
  at::Tensor gathered = torch::from_blob(device + 4, {4 * world}, cuda);
  ASSERT_TRUE((*comm)->AllGather(x, gathered).ok());
  ASSERT_TRUE((*comm)->Broadcast(x, 0).ok());
  ASSERT_TRUE((*comm)->Barrier().ok());
  std::vector<float> back(4 * (world + 1));
  ASSERT_EQ(cudaMemcpy(back.data(), device, sizeof(float) * back.size(), cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(back[i], host[i] * world);
    for (int r = 0; r < world; ++r) EXPECT_FLOAT_EQ(back[4 + r * 4 + i], host[i] * world);
  }
  // CPU tensors are refused with a clear error.
  at::Tensor cpu = torch::ones({2});
  EXPECT_EQ((*comm)->AllReduceSum(cpu).code(), absl::StatusCode::kInvalidArgument);
  cudaFree(device);
}

// The weight broadcast group's NCCL side: a group formed from a unique id outside MPI.
TEST(NcclCommunicatorTest, JoinFormsAGroupFromAUniqueId) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  absl::StatusOr<std::string> id = NewNcclGroupId();
  ASSERT_TRUE(id.ok()) << id.status();
  auto comm = NcclCommunicator::Join(*id, 0, 1, 0, absl::Now() + absl::Seconds(60));
  ASSERT_TRUE(comm.ok()) << comm.status();
  EXPECT_EQ((*comm)->world_size(), 1);
  float* device = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&device), sizeof(float) * 4), cudaSuccess);
  at::Tensor x = torch::from_blob(device, {4}, torch::TensorOptions().dtype(torch::kFloat).device(torch::kCUDA, 0));
  EXPECT_TRUE((*comm)->Broadcast(x, 0).ok());
  EXPECT_TRUE((*comm)->AllReduceSum(x).ok());
  cudaFree(device);
}

TEST(NcclCommunicatorTest, JoinEndsAtTheDeadlineWhenAMemberNeverComes) {
  if (CudaDeviceCount() == 0) GTEST_SKIP() << "no CUDA device";
  absl::StatusOr<std::string> id = NewNcclGroupId();
  ASSERT_TRUE(id.ok()) << id.status();
  auto comm = NcclCommunicator::Join(*id, 0, 2, 0, absl::Now() + absl::Seconds(3));
  EXPECT_EQ(comm.status().code(), absl::StatusCode::kDeadlineExceeded) << comm.status();
  EXPECT_EQ(NcclCommunicator::Join("short", 0, 1, 0, absl::Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(NcclCommunicatorTest, WithoutAGpuCreateFailsCleanly) {
  if (CudaDeviceCount() > 0) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_EQ(NcclCommunicator::Create().status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace memr1::learner
