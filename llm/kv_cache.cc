#include "llm/kv_cache.h"

#include <ATen/ATen.h>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/torch_status.h"

namespace memr1::llm {

absl::StatusOr<std::unique_ptr<KvCache>> KvCache::Create(const ModelConfig& config,
                                                         int64_t max_batch, int64_t max_seq,
                                                         c10::Device device,
                                                         c10::ScalarType dtype) {
  if (max_batch <= 0 || max_seq <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "KV cache sizes must be positive (max_batch ", max_batch, ", max_seq ", max_seq, ")"));
  }
  std::unique_ptr<KvCache> cache(new KvCache());
  cache->max_batch_ = max_batch;
  cache->max_seq_ = max_seq;
  cache->lengths_.assign(max_batch, 0);
  MEMR1_RETURN_IF_ERROR(TorchCall("allocating the KV cache", [&]() {
    const auto options = at::TensorOptions().device(device).dtype(dtype);
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
      // Zeros, not empty: rows past a slot's length are read (and masked) by padded batches,
      // and masked garbage must still be finite.
      cache->keys_.push_back(at::zeros(
          {max_batch, max_seq, config.num_key_value_heads, config.head_dim}, options));
      cache->values_.push_back(at::zeros(
          {max_batch, max_seq, config.num_key_value_heads, config.head_dim}, options));
    }
  }));
  return cache;
}

void KvCache::ResetAll() {
  for (int64_t& length : lengths_) length = 0;
}

}  // namespace memr1::llm
