#include "llm/embedding.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

at::Tensor LastTokenPool(const at::Tensor& hidden, const at::Tensor& mask) {
  const int64_t b = hidden.size(0), t = hidden.size(1);
  const auto long_dev = at::TensorOptions().device(hidden.device()).dtype(at::kLong);
  // Index of the last real token: the largest index whose mask is set.
  at::Tensor index = (mask.to(hidden.device()).to(at::kLong) * (at::arange(t, long_dev) + 1)).argmax(1);
  at::Tensor last = hidden.index({at::arange(b, long_dev), index}).to(at::kFloat);
  return last / last.norm(2, {-1}, /*keepdim=*/true).clamp_min(1e-12);
}

absl::StatusOr<at::Tensor> EmbedSequences(CausalLM& model,
                                          const std::vector<std::vector<int64_t>>& sequences,
                                          int64_t batch_size) {
  if (batch_size <= 0) return absl::InvalidArgumentError("batch_size must be positive");
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty()) return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " is empty"));
  }
  std::vector<at::Tensor> parts;
  at::NoGradGuard no_grad;
  const auto long_cpu = at::TensorOptions().dtype(at::kLong);
  for (size_t start = 0; start < sequences.size(); start += batch_size) {
    const size_t end = std::min(sequences.size(), start + static_cast<size_t>(batch_size));
    const int64_t n = end - start;
    int64_t longest = 0;
    for (size_t i = start; i < end; ++i) longest = std::max<int64_t>(longest, sequences[i].size());
    at::Tensor ids = at::zeros({n, longest}, long_cpu);
    at::Tensor mask = at::zeros({n, longest}, at::TensorOptions().dtype(at::kBool));
    for (int64_t r = 0; r < n; ++r) {
      const std::vector<int64_t>& seq = sequences[start + r];
      std::copy(seq.begin(), seq.end(), ids.data_ptr<int64_t>() + r * longest);
      mask[r].narrow(0, 0, seq.size()).fill_(true);
    }
    DecoderInput input;
    input.input_ids = ids;
    input.attention_mask = mask;
    absl::StatusOr<at::Tensor> hidden = model.Hidden(input);
    if (!hidden.ok()) return Annotate(hidden.status(), absl::StrCat("sequences ", start, "..", end - 1));
    MEMR1_ASSIGN_OR_RETURN(at::Tensor pooled, TorchCall("pooling", [&]() {
      return LastTokenPool(*hidden, mask).to(at::kCPU);
    }));
    parts.push_back(pooled);
  }
  if (parts.empty()) return at::zeros({0, model.config().hidden_size}, at::kFloat);
  return TorchCall("concatenating embeddings", [&]() { return at::cat(parts, 0); });
}

}  // namespace memr1::llm
