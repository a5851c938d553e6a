#include "learner/grad_sync.h"

#include <cmath>

#include <ATen/ATen.h>

#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::learner {

namespace {

at::Tensor& GradOrZeros(at::Tensor param) {
  if (!param.mutable_grad().defined()) param.mutable_grad() = at::zeros_like(param);
  return param.mutable_grad();
}

}  // namespace

absl::StatusOr<GradSyncStats> AllReduceGradients(const std::vector<at::Tensor>& params,
                                                 Communicator& comm, int64_t bucket_bytes,
                                                 double scale) {
  GradSyncStats stats;
  if (params.empty()) return stats;
  const int64_t bucket_elements = std::max<int64_t>(bucket_bytes / 4, 1);
  const at::Device device = params.front().device();
  size_t begin = 0;
  while (begin < params.size()) {
    // A bucket is a run of parameters up to bucket_elements (a larger parameter goes alone).
    size_t end = begin;
    int64_t elements = 0;
    while (end < params.size() &&
           (end == begin || elements + params[end].numel() <= bucket_elements)) {
      elements += params[end].numel();
      ++end;
    }
    MEMR1_RETURN_IF_ERROR(TorchCall("gradient all-reduce", [&]() -> absl::Status {
      at::NoGradGuard no_grad;
      at::Tensor bucket = at::empty({elements}, at::TensorOptions().dtype(at::kFloat).device(device));
      int64_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        const int64_t n = params[i].numel();
        bucket.narrow(0, offset, n).copy_(GradOrZeros(params[i]).reshape(-1));
        offset += n;
      }
      MEMR1_RETURN_IF_ERROR(comm.AllReduceSum(bucket));
      if (scale != 1.0) bucket.mul_(scale);
      offset = 0;
      for (size_t i = begin; i < end; ++i) {
        const int64_t n = params[i].numel();
        at::Tensor& grad = params[i].mutable_grad();
        grad.copy_(bucket.narrow(0, offset, n).view(grad.sizes()));
        offset += n;
      }
      return absl::OkStatus();
    }));
    ++stats.buckets;
    stats.elements += elements;
    begin = end;
  }
  return stats;
}

double ClipGradNorm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  double sum_squares = 0;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    sum_squares += p.grad().to(at::kDouble).pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(sum_squares);
  if (max_norm > 0 && norm > max_norm) {
    const double factor = max_norm / (norm + 1e-6);
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(factor);
    }
  }
  return norm;
}

}  // namespace memr1::learner
