#pragma once

// Per-token log-probabilities and entropies of given sequences: the learner's old, reference and
// current log-probs, and `memr1 model logprobs`.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llm/decoder.h"

namespace memr1::llm {

struct TokenScores {
  at::Tensor logprobs;   // [B, T] float32: log p(targets[b, t] | logits[b, t])
  at::Tensor entropies;  // [B, T] float32, undefined unless asked for
};

// From logits [B, T, V] (any float dtype) and targets [B, T] int64. Differentiable (autograd
// flows into `logits`). Softmax is taken in float32.
absl::StatusOr<TokenScores> ScoreLogits(const at::Tensor& logits, const at::Tensor& targets,
                                        bool with_entropy);

// Forward + ScoreLogits for training: scores `targets` under the logits of `input` (no cache).
// With grad mode on, the result is differentiable w.r.t. the model's parameters.
absl::StatusOr<TokenScores> ScoreBatch(CausalLM& model, const DecoderInput& input,
                                       const at::Tensor& targets, bool with_entropy);

struct ScoreOptions {
  int64_t batch_size = 8;
  bool with_entropy = false;
};

struct SequenceScores {
  std::vector<float> logprobs;   // size len(ids) - 1: entry t = log p(ids[t+1] | ids[..t])
  std::vector<float> entropies;  // same size when asked for, else empty
};

// Scores whole sequences in right-padded batches, without gradients. InvalidArgument (naming the
// sequence) for an empty sequence or ids outside the vocabulary.
absl::StatusOr<std::vector<SequenceScores>> ScoreSequences(
    CausalLM& model, const std::vector<std::vector<int64_t>>& sequences,
    const ScoreOptions& options = {});

}  // namespace memr1::llm
