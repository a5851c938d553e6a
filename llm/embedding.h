#pragma once

// Sentence embeddings from a decoder: the final hidden state of each sequence's last token,
// L2-normalised (the Qwen3-Embedding recipe). memstore's dense retrieval uses these.

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "llm/decoder.h"

namespace memr1::llm {

// hidden [B, T, H], mask [B, T] (true = real token, left or right padding) -> [B, H] float32:
// the hidden state of each row's last real token, divided by its L2 norm.
at::Tensor LastTokenPool(const at::Tensor& hidden, const at::Tensor& mask);

// Embeds `sequences` in right-padded batches of `batch_size`, without gradients. Result
// [N, hidden_size] float32 on the CPU; row i is the embedding of sequence i whatever the batch.
absl::StatusOr<at::Tensor> EmbedSequences(CausalLM& model,
                                          const std::vector<std::vector<int64_t>>& sequences,
                                          int64_t batch_size = 8);

}  // namespace memr1::llm
