#pragma once

// The architecture of a decoder-only model, read from and written to a Hugging Face
// `config.json`. Three families are supported: Qwen2ForCausalLM (q/k/v biases),
// Qwen3ForCausalLM (per-head q/k RMSNorm, explicit head_dim) and LlamaForCausalLM (optional
// Llama-3.1 `rope_scaling` of type "llama3"). All use grouped-query attention, RoPE, RMSNorm and
// a SwiGLU MLP. Anything else (another architecture, sliding windows, another activation,
// another RoPE scaling type) is rejected with an error that names the key.
//
// No LibTorch here: this header is cheap to include.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace memr1::llm {

enum class Architecture { kQwen2, kQwen3, kLlama };

// "Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM".
std::string ArchitectureClassName(Architecture arch);
// "qwen2", "qwen3", "llama" (the config.json `model_type`).
std::string ArchitectureModelType(Architecture arch);
// Parses "qwen2" | "qwen3" | "llama" (the CLI's --arch).
absl::StatusOr<Architecture> ParseArchitecture(const std::string& name);

// Llama-3.1 RoPE scaling (`rope_scaling: {"rope_type": "llama3", ...}`).
struct Llama3RopeScaling {
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  Architecture arch = Architecture::kQwen2;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;
  // Per-head dimension; hidden_size / num_attention_heads unless config.json says otherwise.
  int64_t head_dim = 0;
  int64_t max_position_embeddings = 32768;
  double rope_theta = 10000.0;
  double rms_norm_eps = 1e-6;
  double initializer_range = 0.02;
  bool tie_word_embeddings = false;
  // Biases on q_proj/k_proj/v_proj (Qwen2 always; Llama/Qwen3 when `attention_bias`).
  bool attention_bias = false;
  // Per-head RMSNorm on queries and keys before RoPE (Qwen3).
  bool qk_norm = false;
  std::optional<Llama3RopeScaling> rope_scaling;
  // The on-disk dtype named in config.json ("float32", "bfloat16", "float16").
  std::string torch_dtype = "float32";
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;

  // Checks sizes and divisibility (heads divide evenly into key/value groups, head_dim even).
  absl::Status Validate() const;
  // Parameters of the model (embeddings counted once when tied).
  int64_t NumParameters() const;
};

// Parses the text of a config.json. `source` names the file in errors.
absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source);
// Reads `<dir>/config.json` (or the file itself when `path` is a file).
absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path);
// config.json text in the Hugging Face layout for the config's architecture.
std::string ModelConfigToJson(const ModelConfig& config);

// A small config for tests and the quickstart, given as config.json keys that override the
// family's defaults (e.g. {"hidden_size": 64, "num_hidden_layers": 2}). `source` names the
// overrides in errors. The result is validated.
absl::StatusOr<ModelConfig> MakeModelConfig(Architecture arch, const std::string& overrides_json,
                                            const std::string& source);

}  // namespace memr1::llm
