#pragma once

// safetensors bytes in memory: serialising tensors (or a CausalLM's parameters) to the exact
// bytes llm::WriteSafetensors would write, and opening such bytes as a SafetensorsCheckpoint.
// Learner rank 0 publishes a policy version this way without writing a checkpoint to disk
// (learner/weight_publisher.h); actors load what they fetched (actor/weight_client.h).
//
// Thread safety: free functions; the model must not be modified during serialisation.

#include <c10/core/ScalarType.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "llm/safetensors.h"

namespace memr1::llm {

class CausalLM;

// The bytes of one safetensors file holding `tensors` in order (converted to `dtype` when set),
// with `metadata` as "__metadata__": byte-identical to what WriteSafetensors writes for the same
// tensors. Tensors are copied to the CPU one at a time while appending, so the peak is the
// result plus one tensor. InvalidArgument for a duplicate or reserved name or a dtype
// safetensors cannot hold.
absl::StatusOr<std::string> SerializeSafetensors(
    const std::vector<std::pair<std::string, at::Tensor>>& tensors,
    std::optional<c10::ScalarType> dtype = std::nullopt,
    const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

// `model`'s parameters with Hugging Face names, as SaveCausalLM writes them into
// model.safetensors (in `dtype`, the model's compute dtype when unset).
absl::StatusOr<std::string> SerializeCausalLMWeights(
    const CausalLM& model, std::optional<c10::ScalarType> dtype = std::nullopt);

// Reserves `capacity` bytes in `buffer` for a large byte string (a model's weights) and asks
// the kernel to back it with transparent huge pages (Linux madvise, best effort). Filling
// 100 MB of fresh memory page by page takes ~26k page faults, which cost more than the copy
// itself on virtual machines; huge pages take ~50.
void ReserveLargeBuffer(std::string* buffer, size_t capacity);

// Opens safetensors `bytes` as a checkpoint. SafetensorsCheckpoint reads memory-mapped files,
// so the bytes are written to model.safetensors in a fresh private directory under
// `scratch_dir` (the system temporary directory when empty), opened, and the directory is
// removed at once: the open mapping keeps the data alive and nothing is left on disk, even on
// error. Errors: InvalidArgument for malformed bytes (as SafetensorsFile::Open), Internal when
// the scratch file cannot be written.
absl::StatusOr<std::unique_ptr<SafetensorsCheckpoint>> OpenSafetensorsBytes(
    absl::string_view bytes, const std::string& scratch_dir = "");

}  // namespace memr1::llm
