#include "learner/communicator.h"

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "learner/mpi_communicator.h"
#if MEMR1_WITH_NCCL
#include "learner/nccl_communicator.h"
#endif

namespace memr1::learner {

absl::Status CheckAllGatherArgs(const at::Tensor& input, const at::Tensor& output, int world) {
  if (!input.is_contiguous() || !output.is_contiguous()) {
    return absl::InvalidArgumentError("AllGather: tensors must be contiguous");
  }
  if (input.scalar_type() != output.scalar_type()) {
    return absl::InvalidArgumentError("AllGather: input and output dtypes differ");
  }
  if (output.numel() != input.numel() * world) {
    return absl::InvalidArgumentError(absl::StrCat("AllGather: output has ", output.numel(),
                                                   " elements, expected ", world, " x ",
                                                   input.numel()));
  }
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::AllReduceSum(at::Tensor& tensor) {
  if (!tensor.is_contiguous()) return absl::InvalidArgumentError("AllReduceSum: not contiguous");
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::AllGather(const at::Tensor& input, at::Tensor& output) {
  MEMR1_RETURN_IF_ERROR(CheckAllGatherArgs(input, output, 1));
  output.view(-1).copy_(input.view(-1));
  return absl::OkStatus();
}

absl::Status SingleProcessCommunicator::Broadcast(at::Tensor& /*tensor*/, int root) {
  if (root != 0) return absl::InvalidArgumentError(absl::StrCat("Broadcast: no rank ", root));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Communicator>> MakeCommunicator(const std::string& kind) {
  if (kind == "single") return std::unique_ptr<Communicator>(new SingleProcessCommunicator());
  if (kind == "mpi") {
    MEMR1_ASSIGN_OR_RETURN(auto mpi, MpiCommunicator::Create());
    return std::unique_ptr<Communicator>(std::move(mpi));
  }
  if (kind == "nccl") {
#if MEMR1_WITH_NCCL
    MEMR1_ASSIGN_OR_RETURN(auto nccl, NcclCommunicator::Create());
    return std::unique_ptr<Communicator>(std::move(nccl));
#else
    return absl::UnimplementedError("this memr1 was built without NCCL (nccl.h not found)");
#endif
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown communicator '", kind, "' (expected single, mpi or nccl)"));
}

}  // namespace memr1::learner
