#pragma once

// Loading and saving CausalLM models as Hugging Face checkpoint directories: config.json plus
// model.safetensors (or shards with model.safetensors.index.json), with transformers' tensor
// names, so transformers and vLLM load what we write and we load what they write.

#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "llm/decoder.h"
#include "llm/safetensors.h"

namespace memr1::llm {

// Reads `dir`/config.json and its safetensors into a new model on `device` in `dtype`
// (tensors stored as F32, F16 or BF16 are converted). Tensors are copied one at a time from
// the memory-mapped files, so peak resident memory stays near one copy of the model.
// Errors name the file and tensor: a missing or mis-shaped tensor, an unexpected one (other than
// a tied "lm_head.weight" or rotary "inv_freq" buffers, which are ignored), a corrupt file.
absl::StatusOr<std::unique_ptr<CausalLM>> LoadCausalLM(const std::string& dir, c10::Device device,
                                                       c10::ScalarType dtype);

// Copies the tensors of `checkpoint` into `model`'s parameters (e.g. a new policy version).
// Every name and shape is checked before the first copy, so on error the model is unchanged.
absl::Status LoadWeights(const SafetensorsCheckpoint& checkpoint, CausalLM* model);

struct SaveOptions {
  // Shard when the tensors exceed this many bytes (0 = one file), like transformers'
  // max_shard_size.
  uint64_t max_shard_bytes = 0;
  // On-disk dtype; the model's compute dtype when unset.
  std::optional<c10::ScalarType> dtype;
};

// Writes config.json and the weights into `dir` (created if needed; a previous checkpoint's
// weight files there are replaced). Saving a model loaded from F32 files we wrote reproduces
// them byte for byte.
absl::Status SaveCausalLM(const CausalLM& model, const std::string& dir,
                          const SaveOptions& options = {});

}  // namespace memr1::llm
