#include "learner/mpi_communicator.h"

#include <mpi.h>

#include <cstdlib>

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace memr1::learner {

namespace {

absl::Status MpiCheck(int code, const char* what) {
  if (code == MPI_SUCCESS) return absl::OkStatus();
  char message[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, message, &length);
  return absl::InternalError(absl::StrCat(what, ": ", std::string(message, length)));
}

absl::StatusOr<MPI_Datatype> MpiType(at::ScalarType type) {
  switch (type) {
    case at::kFloat:
      return MPI_FLOAT;
    case at::kDouble:
      return MPI_DOUBLE;
    case at::kInt:
      return MPI_INT32_T;
    case at::kLong:
      return MPI_INT64_T;
    case at::kByte:
      return MPI_UINT8_T;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "MPI communicator: dtype ", at::toString(type),
          " is not supported on CPU (use float32/float64/int32/int64 buffers)"));
  }
}

absl::Status CheckCpu(const at::Tensor& tensor, const char* what) {
  if (!tensor.device().is_cpu()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": the MPI communicator takes CPU tensors"));
  }
  if (!tensor.is_contiguous()) return absl::InvalidArgumentError(absl::StrCat(what, ": not contiguous"));
  return absl::OkStatus();
}

void FinalizeAtExit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

}  // namespace

absl::Status EnsureMpiInitialized() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) return absl::OkStatus();
  int provided = 0;
  MEMR1_RETURN_IF_ERROR(
      MpiCheck(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init"));
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  std::atexit(FinalizeAtExit);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<MpiCommunicator>> MpiCommunicator::Create() {
  MEMR1_RETURN_IF_ERROR(EnsureMpiInitialized());
  int rank = 0, world = 1;
  MEMR1_RETURN_IF_ERROR(MpiCheck(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank"));
  MEMR1_RETURN_IF_ERROR(MpiCheck(MPI_Comm_size(MPI_COMM_WORLD, &world), "MPI_Comm_size"));
  return std::unique_ptr<MpiCommunicator>(new MpiCommunicator(rank, world));
}

absl::Status MpiCommunicator::AllReduceSum(at::Tensor& tensor) {
  MEMR1_RETURN_IF_ERROR(CheckCpu(tensor, "AllReduceSum"));
  MEMR1_ASSIGN_OR_RETURN(MPI_Datatype type, MpiType(tensor.scalar_type()));
  // MPI's counts are int; large buffers go in pieces.
  constexpr int64_t kMaxCount = int64_t{1} << 30;
  char* data = static_cast<char*>(tensor.data_ptr());
  for (int64_t offset = 0; offset < tensor.numel(); offset += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, tensor.numel() - offset));
    MEMR1_RETURN_IF_ERROR(MpiCheck(MPI_Allreduce(MPI_IN_PLACE, data + offset * tensor.element_size(),
                                                 count, type, MPI_SUM, MPI_COMM_WORLD),
                                   "MPI_Allreduce"));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::AllGather(const at::Tensor& input, at::Tensor& output) {
  MEMR1_RETURN_IF_ERROR(CheckCpu(input, "AllGather"));
  MEMR1_RETURN_IF_ERROR(CheckCpu(output, "AllGather"));
  MEMR1_RETURN_IF_ERROR(CheckAllGatherArgs(input, output, world_));
  // Gathering moves bytes without arithmetic, so any dtype (bf16 included) goes as MPI_BYTE.
  const int64_t bytes = input.numel() * input.element_size();
  if (bytes > (int64_t{1} << 31) - 1) {
    return absl::InvalidArgumentError("AllGather: more than 2 GiB per rank");
  }
  const int count = static_cast<int>(bytes);
  return MpiCheck(MPI_Allgather(input.data_ptr(), count, MPI_BYTE, output.data_ptr(), count,
                                MPI_BYTE, MPI_COMM_WORLD),
                  "MPI_Allgather");
}

absl::Status MpiCommunicator::Broadcast(at::Tensor& tensor, int root) {
  MEMR1_RETURN_IF_ERROR(CheckCpu(tensor, "Broadcast"));
  return BroadcastBytes(tensor.data_ptr(), tensor.numel() * tensor.element_size(), root);
}

absl::Status MpiCommunicator::BroadcastBytes(void* data, size_t size, int root) {
  if (root < 0 || root >= world_) {
    return absl::InvalidArgumentError(absl::StrCat("Broadcast: no rank ", root));
  }
  constexpr size_t kMaxCount = size_t{1} << 30;
  char* bytes = static_cast<char*>(data);
  for (size_t offset = 0; offset < size; offset += kMaxCount) {
    const int count = static_cast<int>(std::min(kMaxCount, size - offset));
    MEMR1_RETURN_IF_ERROR(
        MpiCheck(MPI_Bcast(bytes + offset, count, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast"));
  }
  return absl::OkStatus();
}

absl::Status MpiCommunicator::Barrier() {
  return MpiCheck(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

}  // namespace memr1::learner
