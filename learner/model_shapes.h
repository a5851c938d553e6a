#pragma once

// Architecture shapes that decide a model's memory: what the memory planner needs, nothing
// more. Known shapes are built in for the paper's models (from their public Hugging Face
// config.json files); any other model is read from its config.json.
//
// No LibTorch here: cheap to include. Thread safety: pure functions.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace memr1::learner {

struct ModelShape {
  std::string name;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;

  // Parameters of the decoder (embeddings counted once when tied).
  int64_t NumParameters() const;
};

// Shapes of Qwen2.5-3B/7B/14B-Instruct and Llama-3.1-8B-Instruct.
const std::vector<ModelShape>& KnownModelShapes();

// The shape for a model path: `<path>/config.json` when it exists (or `path` itself if it is a
// config.json file), else a known shape whose name matches the path's last component
// ("models/Qwen2.5-7B-Instruct" -> Qwen2.5-7B-Instruct, case-insensitive, "-Instruct"
// optional). NotFound naming both when neither works; InvalidArgument for a malformed
// config.json (naming the key).
absl::StatusOr<ModelShape> ResolveModelShape(const std::string& model_path);

// Parses the keys of a Hugging Face config.json the planner needs. `source` names it in errors.
absl::StatusOr<ModelShape> ParseModelShape(const std::string& json_text, const std::string& source);

}  // namespace memr1::learner
