#pragma once

// A preallocated key/value cache for incremental decoding. It has `max_batch` slots (rows),
// each holding up to `max_seq` tokens of one sequence; CausalLM::Forward appends a batch's real
// tokens to the slots the batch names and attends over each slot's prefix. Slots are
// independent, so the engine can give a finished row's slot to a queued request (continuous
// batching) by Reset()-ing it.
//
// Memory: 2 x layers x max_batch x max_seq x num_key_value_heads x head_dim elements of the
// compute dtype, allocated once in Create.
//
// Thread safety: not thread safe; owned by one engine or caller.

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llm/model_config.h"

namespace memr1::llm {

class KvCache {
 public:
  // InvalidArgument for non-positive sizes; ResourceExhausted if the allocation fails.
  static absl::StatusOr<std::unique_ptr<KvCache>> Create(const ModelConfig& config,
                                                         int64_t max_batch, int64_t max_seq,
                                                         c10::Device device,
                                                         c10::ScalarType dtype);

  int64_t max_batch() const { return max_batch_; }
  int64_t max_seq() const { return max_seq_; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  // Tokens cached in `slot`.
  int64_t length(int64_t slot) const { return lengths_[slot]; }
  // Empties `slot` (its stale entries are never attended to and are overwritten later).
  void Reset(int64_t slot) { lengths_[slot] = 0; }
  void ResetAll();

  // [max_batch, max_seq, num_key_value_heads, head_dim] tensors of layer `layer`.
  at::Tensor& keys(int64_t layer) { return keys_[layer]; }
  at::Tensor& values(int64_t layer) { return values_[layer]; }
  // Used by CausalLM::Forward after appending tokens.
  void set_length(int64_t slot, int64_t length) { lengths_[slot] = length; }

 private:
  KvCache() = default;

  int64_t max_batch_ = 0;
  int64_t max_seq_ = 0;
  std::vector<at::Tensor> keys_;
  std::vector<at::Tensor> values_;
  std::vector<int64_t> lengths_;
};

}  // namespace memr1::llm
