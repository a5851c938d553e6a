#include "llm/scoring.h"

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>  // at::NoGradGuard (not in ATen.h on LibTorch 2.x)

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

absl::StatusOr<TokenScores> ScoreLogits(const at::Tensor& logits, const at::Tensor& targets,
                                        bool with_entropy) {
  if (!logits.defined() || logits.dim() != 3 || !targets.defined() || targets.dim() != 2 ||
      logits.size(0) != targets.size(0) || logits.size(1) != targets.size(1)) {
    return absl::InvalidArgumentError("ScoreLogits needs logits [B, T, V] and targets [B, T]");
  }
  return TorchCall("scoring logits", [&]() {
    TokenScores scores;
    at::Tensor logp = at::log_softmax(logits.to(at::kFloat), -1);
    scores.logprobs = logp.gather(2, targets.to(logits.device()).to(at::kLong).unsqueeze(2)).squeeze(2);
    if (with_entropy) scores.entropies = -(logp.exp() * logp).sum(-1);
    return scores;
  });
}

absl::StatusOr<TokenScores> ScoreBatch(CausalLM& model, const DecoderInput& input,
                                       const at::Tensor& targets, bool with_entropy) {
  if (input.cache != nullptr) return absl::InvalidArgumentError("ScoreBatch takes no KV cache");
  MEMR1_ASSIGN_OR_RETURN(at::Tensor logits, model.Logits(input));
  return ScoreLogits(logits, targets, with_entropy);
}

absl::StatusOr<std::vector<SequenceScores>> ScoreSequences(
    CausalLM& model, const std::vector<std::vector<int64_t>>& sequences,
    const ScoreOptions& options) {
  if (options.batch_size <= 0) return absl::InvalidArgumentError("batch_size must be positive");
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty()) return absl::InvalidArgumentError(absl::StrCat("sequence ", i, " is empty"));
    for (int64_t id : sequences[i]) {
      if (id < 0 || id >= model.config().vocab_size) {
        return absl::InvalidArgumentError(absl::StrCat("sequence ", i, ": token id ", id,
                                                       " is outside the vocabulary [0, ",
                                                       model.config().vocab_size, ")"));
      }
    }
  }
  std::vector<SequenceScores> out(sequences.size());
  at::NoGradGuard no_grad;
  const auto long_cpu = at::TensorOptions().dtype(at::kLong);
  for (size_t start = 0; start < sequences.size(); start += options.batch_size) {
    const size_t end = std::min(sequences.size(), start + static_cast<size_t>(options.batch_size));
    const int64_t n = end - start;
    int64_t longest = 0;
    for (size_t i = start; i < end; ++i) longest = std::max<int64_t>(longest, sequences[i].size());
    if (longest < 2) continue;  // nothing to score: every sequence has one token
    const int64_t t = longest - 1;
    at::Tensor ids = at::zeros({n, t}, long_cpu);
    at::Tensor targets = at::zeros({n, t}, long_cpu);
    at::Tensor mask = at::zeros({n, t}, at::TensorOptions().dtype(at::kBool));
    for (int64_t r = 0; r < n; ++r) {
      const std::vector<int64_t>& seq = sequences[start + r];
      const int64_t len = static_cast<int64_t>(seq.size()) - 1;
      if (len == 0) {
        mask[r][0] = true;  // a lone token still needs one real position to attend to
        continue;
      }
      std::copy(seq.begin(), seq.end() - 1, ids.data_ptr<int64_t>() + r * t);
      std::copy(seq.begin() + 1, seq.end(), targets.data_ptr<int64_t>() + r * t);
      mask[r].narrow(0, 0, len).fill_(true);
    }
    DecoderInput input;
    input.input_ids = ids;
    input.attention_mask = mask;
    MEMR1_ASSIGN_OR_RETURN(TokenScores scores, ScoreBatch(model, input, targets, options.with_entropy));
    at::Tensor lp = scores.logprobs.to(at::kCPU).contiguous();
    at::Tensor ent = options.with_entropy ? scores.entropies.to(at::kCPU).contiguous() : at::Tensor();
    for (int64_t r = 0; r < n; ++r) {
      const int64_t len = static_cast<int64_t>(sequences[start + r].size()) - 1;
      SequenceScores& s = out[start + r];
      s.logprobs.assign(lp.data_ptr<float>() + r * t, lp.data_ptr<float>() + r * t + len);
      if (options.with_entropy) {
        s.entropies.assign(ent.data_ptr<float>() + r * t, ent.data_ptr<float>() + r * t + len);
      }
    }
  }
  return out;
}

}  // namespace memr1::llm
