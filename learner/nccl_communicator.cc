#include "learner/nccl_communicator.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "absl/time/clock.h"
#include "learner/mpi_communicator.h"
#include "learner/weight_broadcast.h"

namespace memr1::learner {

struct NcclCommunicator::State {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
};

static_assert(sizeof(ncclUniqueId) == NCCL_UNIQUE_ID_BYTES);

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

absl::StatusOr<std::unique_ptr<NcclCommunicator>> NcclCommunicator::Join(
    const std::string& unique_id, int rank, int world, int device, absl::Time deadline) {
  if (unique_id.size() != sizeof(ncclUniqueId)) {
    return absl::InvalidArgumentError(absl::StrCat("NCCL group: the unique id has ",
                                                   unique_id.size(), " bytes, not ",
                                                   sizeof(ncclUniqueId)));
  }
  if (world < 1 || rank < 0 || rank >= world) {
    return absl::InvalidArgumentError(
        absl::StrCat("NCCL group: rank ", rank, " of a group of ", world));
  }
  const int devices = CudaDeviceCount();
  if (devices == 0) return absl::FailedPreconditionError("NCCL group: no CUDA device is visible");
  if (device < 0 || device >= devices) {
    return absl::InvalidArgumentError(
        absl::StrCat("NCCL group: CUDA device ", device, " of ", devices, " visible"));
  }
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaSetDevice(device), "cudaSetDevice"));
  ncclUniqueId id;
  std::memcpy(&id, unique_id.data(), sizeof(id));
  auto state = std::make_unique<State>();
  MEMR1_RETURN_IF_ERROR(
      CudaCheck(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking), "cudaStreamCreate"));
  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclResult_t code = ncclCommInitRankConfig(&state->comm, world, id, rank, &config);
  while (code == ncclInProgress) {
    if (absl::Now() > deadline) {
      ncclCommAbort(state->comm);
      state->comm = nullptr;
      return absl::DeadlineExceededError(absl::StrCat(
          "NCCL group: not all ", world, " members joined before the deadline (rank ", rank, ")"));
    }
    absl::SleepFor(absl::Milliseconds(5));
    if (ncclCommGetAsyncError(state->comm, &code) != ncclSuccess) break;
  }
  if (code != ncclSuccess) {
    if (state->comm != nullptr) ncclCommAbort(state->comm);
    state->comm = nullptr;
    return NcclCheck(code, "ncclCommInitRankConfig");
  }
  return std::unique_ptr<NcclCommunicator>(
      new NcclCommunicator(std::move(state), rank, world, device));
}

absl::Status NcclCommunicator::Settle(int result, const char* what) {
  auto code = static_cast<ncclResult_t>(result);
  while (code == ncclInProgress) {
    absl::SleepFor(absl::Microseconds(50));
    MEMR1_RETURN_IF_ERROR(NcclCheck(ncclCommGetAsyncError(state_->comm, &code), what));
  }
  return NcclCheck(code, what);
}

absl::StatusOr<std::string> NewNcclGroupId() {
  ncclUniqueId id;
  MEMR1_RETURN_IF_ERROR(NcclCheck(ncclGetUniqueId(&id), "ncclGetUniqueId"));
  return std::string(id.internal, sizeof(id.internal));
}

GroupJoiner NcclGroupJoiner(int device) {
  return [device](const std::string& unique_id, int rank, int world,
                  absl::Time deadline) -> absl::StatusOr<std::unique_ptr<Communicator>> {
    MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<NcclCommunicator> comm,
                           NcclCommunicator::Join(unique_id, rank, world, device, deadline));
    return std::unique_ptr<Communicator>(std::move(comm));
  };
}

absl::Status NcclCommunicator::AllReduceSum(at::Tensor& tensor) {
  MEMR1_RETURN_IF_ERROR(CheckCuda(tensor, "AllReduceSum"));
  MEMR1_ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensor.scalar_type()));
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaDeviceSynchronize(), "cudaDeviceSynchronize"));
  MEMR1_RETURN_IF_ERROR(Settle(ncclAllReduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
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
  MEMR1_RETURN_IF_ERROR(Settle(ncclAllGather(input.data_ptr(), output.data_ptr(), input.numel(),
                                             type, state_->comm, state_->stream),
                               "ncclAllGather"));
  return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
}

absl::Status NcclCommunicator::Broadcast(at::Tensor& tensor, int root) {
  MEMR1_RETURN_IF_ERROR(CheckCuda(tensor, "Broadcast"));
  if (root < 0 || root >= world_) return absl::InvalidArgumentError(absl::StrCat("no rank ", root));
  MEMR1_ASSIGN_OR_RETURN(ncclDataType_t type, NcclType(tensor.scalar_type()));
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaDeviceSynchronize(), "cudaDeviceSynchronize"));
  MEMR1_RETURN_IF_ERROR(Settle(ncclBroadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                             type, root, state_->comm, state_->stream),
                               "ncclBroadcast"));
  return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
}

absl::Status NcclCommunicator::Barrier() {
  // An all-reduce of one int on the device: completes only when every rank reached it.
  int* scratch = nullptr;
  MEMR1_RETURN_IF_ERROR(CudaCheck(cudaMalloc(&scratch, sizeof(int)), "cudaMalloc"));
  const absl::Status status = [&]() -> absl::Status {
    MEMR1_RETURN_IF_ERROR(Settle(
        ncclAllReduce(scratch, scratch, 1, ncclInt32, ncclSum, state_->comm, state_->stream),
        "ncclAllReduce"));
    return CudaCheck(cudaStreamSynchronize(state_->stream), "cudaStreamSynchronize");
  }();
  cudaFree(scratch);
  return status;
}

}  // namespace memr1::learner
