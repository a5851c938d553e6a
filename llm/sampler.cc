#include "llm/sampler.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)

#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

absl::Status SamplingParams::Validate() const {
  if (!greedy && !(temperature > 0 && std::isfinite(temperature))) {
    return absl::InvalidArgumentError(
        absl::StrCat("temperature must be positive (got ", temperature, "); use greedy instead of 0"));
  }
  if (top_k < 0) return absl::InvalidArgumentError(absl::StrCat("top_k must be >= 0 (got ", top_k, ")"));
  if (!(top_p > 0 && top_p <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("top_p must be in (0, 1] (got ", top_p, ")"));
  }
  if (max_new_tokens < 0) {
    return absl::InvalidArgumentError(absl::StrCat("max_new_tokens must be >= 0 (got ", max_new_tokens, ")"));
  }
  for (const std::string& s : stop_strings) {
    if (s.empty()) return absl::InvalidArgumentError("stop strings must not be empty");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SampledToken>> SampleTokens(
    const at::Tensor& logits, const std::vector<const SamplingParams*>& params,
    const std::vector<SamplerRng*>& rngs) {
  if (!logits.defined() || logits.dim() != 2) {
    return absl::InvalidArgumentError("logits must be [batch, vocab]");
  }
  const int64_t b = logits.size(0), v = logits.size(1);
  if (static_cast<int64_t>(params.size()) != b || static_cast<int64_t>(rngs.size()) != b) {
    return absl::InvalidArgumentError("one SamplingParams and one SamplerRng per row are needed");
  }
  for (int64_t i = 0; i < b; ++i) {
    if (!params[i]->greedy && rngs[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("row ", i, " samples but has no SamplerRng"));
    }
  }
  std::vector<SampledToken> out(b);
  MEMR1_RETURN_IF_ERROR(TorchCall("sampling", [&]() {
    at::NoGradGuard no_grad;
    at::Tensor x = logits.to(at::kFloat);
    bool any_sampled = false, any_filter = false;
    std::vector<float> temps(b, 1.0f), top_p(b, 2.0f);
    std::vector<int64_t> top_k(b, v);
    for (int64_t i = 0; i < b; ++i) {
      const SamplingParams& p = *params[i];
      if (p.greedy) continue;
      any_sampled = true;
      temps[i] = static_cast<float>(p.temperature);
      if (p.top_k > 0 && p.top_k < v) {
        top_k[i] = p.top_k;
        any_filter = true;
      }
      if (p.top_p < 1.0) {
        top_p[i] = static_cast<float>(p.top_p);
        any_filter = true;
      }
    }
    // Greedy rows: argmax and the model's log-prob.
    at::Tensor raw_logp = at::log_softmax(x, -1);
    at::Tensor argmax = x.argmax(-1);
    at::Tensor argmax_lp = raw_logp.gather(1, argmax.unsqueeze(1)).squeeze(1);
    at::Tensor argmax_cpu = argmax.to(at::kCPU).contiguous();
    at::Tensor argmax_lp_cpu = argmax_lp.to(at::kCPU).contiguous();
    for (int64_t i = 0; i < b; ++i) {
      out[i].id = argmax_cpu.data_ptr<int64_t>()[i];
      out[i].logprob = argmax_lp_cpu.data_ptr<float>()[i];
    }
    if (!any_sampled) return;
    const auto dev = at::TensorOptions().device(x.device());
    at::Tensor scaled = x / at::tensor(temps).to(x.device()).unsqueeze(1);
    at::Tensor order;  // sorted position -> token id, when filtering
    at::Tensor logp;
    if (any_filter) {
      auto sorted = scaled.sort(-1, /*descending=*/true);
      at::Tensor values = std::get<0>(sorted);
      order = std::get<1>(sorted);
      at::Tensor rank = at::arange(v, dev.dtype(at::kLong)).unsqueeze(0);
      at::Tensor k = at::tensor(top_k).to(x.device()).unsqueeze(1);
      const float neg_inf = -std::numeric_limits<float>::infinity();
      values = values.masked_fill(rank >= k, neg_inf);
      at::Tensor probs = at::softmax(values, -1);
      at::Tensor mass_before = probs.cumsum(-1) - probs;
      at::Tensor p = at::tensor(top_p).to(x.device()).unsqueeze(1);
      // The first token is always kept (mass before it is 0 < p).
      values = values.masked_fill(mass_before >= p, neg_inf);
      logp = at::log_softmax(values, -1);
    } else {
      logp = at::log_softmax(scaled, -1);
    }
    at::Tensor logp_cpu = logp.to(at::kCPU).contiguous();
    at::Tensor order_cpu = any_filter ? order.to(at::kCPU).contiguous() : at::Tensor();
    for (int64_t i = 0; i < b; ++i) {
      if (params[i]->greedy) continue;
      const float* row = logp_cpu.data_ptr<float>() + i * v;
      const double u = rngs[i]->Uniform();
      // Inverse CDF over the row; the total is recomputed so rounding never runs off the end.
      double total = 0;
      for (int64_t j = 0; j < v; ++j) total += std::exp(static_cast<double>(row[j]));
      const double target = u * total;
      double cum = 0;
      int64_t chosen = -1;
      for (int64_t j = 0; j < v; ++j) {
        if (row[j] == -std::numeric_limits<float>::infinity()) continue;
        cum += std::exp(static_cast<double>(row[j]));
        chosen = j;
        if (cum > target) break;
      }
      out[i].id = any_filter ? order_cpu.data_ptr<int64_t>()[i * v + chosen] : chosen;
      out[i].logprob = row[chosen];
    }
  }));
  return out;
}

}  // namespace memr1::llm
