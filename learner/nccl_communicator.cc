#include "learner/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "learner/mpi_communicator.h"

namespace memr1::learner {

struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
};

namespace {

absl::Status CudaCheck(cudaError_t code, const char* what) {
  if (code == cudaSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", cudaGetErrorString(code)));
}

absl::Status NcclCheck(ncclResult_t code, const char* what) {
  if (code == ncclSuccess) return absl::OkStatus();
  return absl::InternalError(absl::StrCat(what, ": ", ncclGetErrorString(code)));
}

absl::StatusOr<ncclDataType_t> NcclType(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return ncclFloat32;
    case at::kDouble:
      return ncclFloat64;
    case at::kHalf:
      return ncclFloat16;
    case at::kBFloat16:
      return ncclBfloat16;
    case at::kInt:
      return ncclInt32;
    case at::kLong:
      return ncclInt64;
    case at::kByte:
      return ncclUint8;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("NCCL communicator: unsupported dtype ", at::toString(type)));
  }
}

absl::Status CheckCuda(const at::Tensor& tensor, const char* what) {
  if (!tensor.is_cuda()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the NCCL communicator takes CUDA tensors"));
  }
  if (!tensor.is_contiguous()) return absl::InvalidArgumentError(absl::StrCat(what, ": not contiguous"));
  return absl::OkStatus();
}

int LocalRank(int rank) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "LOCAL_RANK"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return rank;
}

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return count;
}

NcclCommunicator::NcclCommunicator(std::unique_ptr<State> state, int rank, int world, int device)
    : state_(std::move(state)), rank_(rank), world_(world), device_(device) {}

NcclCommunicator::~NcclCommunicator() {
  if (state_->comm != nullptr) ncclCommDestroy(state_->comm);
  if (state_->stream != nullptr) cudaStreamDestroy(state_->stream);
}

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Create() {
  const int devices = CudaDeviceCount();
  if (devices == 0) {
    return absl::FailedPreconditionError("NCCL communicator: no CUDA device is visible");
  }
  MEMR1_ASSIGN_OR_RETURN(auto mpi, MpiCommunicator::Create());
  const int device = LocalRank(mpi->rank()) % devices;
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(device), "cudaSetDevice"));
  ncclUniqueId id;
  if (mpi->rank() == 0) MEMR1_RETURN_IF_ERROR(NcclCheck(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  MEMR1_RETURN_IF_ERROR(mpi->BroadcastBytes(&id, sizeof(id), 0));
  auto state = std::make_unique<State>();
  MEMR1_RETURN_IF_ERROR(
      CudaCheck(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  MEMR1_RETURN_IF_ERROR(NcclCheck(ncclCommInitRank(&state->comm, mpi->world_size(), id, mpi->rank()),
                                  "ncclCommInitRank"));
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(std::move(state), mpi->rank(), mpi->world_size(), device));
}

absl::Status NcclCommunicator::AllReduceSum(at::Tensor& tensor) {
  MEMR1_RETURN_IF_ERROR(CheckCuda(tensor, "AllReduceSum"));
  MEMR1_ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensor.scalar_type()));
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaDeviceSynchronize(), "cudaDeviceSynchronize"));
  MEMR1_RETURN_IF_ERROR(NcclCheck(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                                type, ncclSum, state_->comm, state_->stream),
                                  "ncclAllReduce"));
  return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
}

absl::Status NcclCommunicator::AllGather(const at::Tensor& input, at::Tensor& output) {
  MEMR1_RETURN_IF_ERROR(CheckCuda(input, "AllGather"));
  MEMR1_RETURN_IF_ERROR(CheckCuda(output, "AllGather"));
  MEMR1_RETURN_IF_ERROR(CheckAllGatherArgs(input, output, world_));
  MEMR1_ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(input.scalar_type()));
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaDeviceSynchronize(), "cudaDeviceSynchronize"));
  MEMR1_RETURN_IF_ERROR(NcclCheck(ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(),
                                                type, state_->comm, state_->stream),
                                  "ncclAllGather"));
  return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
}

absl::Status NcclCommunicator::Broadcast(at::Tensor& tensor, int root) {
  MEMR1_RETURN_IF_ERROR(CheckCuda(tensor, "Broadcast"));
  if (root < 0 || root >= world_) return absl::InvalidArgumentError(absl::StrCat("no rank ", root));
  MEMR1_ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensor.scalar_type()));
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaDeviceSynchronize(), "cudaDeviceSynchronize"));
  MEMR1_RETURN_IF_ERROR(NcclCheck(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                                type, root, state_->comm, state_->stream),
                                  "ncclBroadcast"));
  return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
}

absl::Status NcclCommunicator::Barrier() {
  // An all-reduce of one int on the device: completes only when every rank reached it.
  int* scratch = nullptr;
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaMalloc(&scratch, sizeof(int)), "cudaMalloc"));
  const absl::Status status = [&]() -> absl::Status {
    MEMR1_RETURN_IF_ERROR(NcclCheck(
        ncclAllReduce(scratch, scratch, 1, ncclInt32, ncclSum, state_->comm, state_->stream),
        "ncclAllReduce"));
    return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
  }();
  cudaFree(scratch);
  return status;
}

}  // namespace memr1::learner
