#include "learner/model_shapes.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "learner/tensor_archive.h"

namespace memr1::learner {

namespace fs = std::filesystem;

int64_t ModelShape::NumParameters() const {
  const int64_t q = num_heads * head_dim, kv = num_kv_heads * head_dim;
  int64_t attention = hidden_size * q + 2 * hidden_size * kv + q * hidden_size;
  if (attention_bias) attention += q + 2 * kv;
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  const int64_t norms = 2 * hidden_size;
  const int64_t embeddings = vocab_size * hidden_size * (tie_word_embeddings ? 1 : 2);
  return num_layers * (attention + mlp + norms) + embeddings + hidden_size;
}

const std::vector<ModelShape>& KnownModelShapes() {
  // name, vocab, hidden, intermediate, layers, heads, kv heads, head dim, tied, attention bias
  static const std::vector<ModelShape> kShapes = {
      {"Qwen2.5-3B-Instruct", 151936, 2048, 11008, 36, 16, 2, 128, true, true},
      {"Qwen2.5-7B-Instruct", 152064, 3584, 18944, 28, 28, 4, 128, false, true},
      {"Qwen2.5-14B-Instruct", 152064, 5120, 13824, 48, 40, 8, 128, false, true},
      {"Llama-3.1-8B-Instruct", 128256, 4096, 14336, 32, 32, 8, 128, false, false},
  };
  return kShapes;
}

absl::StatusOr<ModelShape> ParseModelShape(const std::string& json_text, const std::string& source) {
  const nlohmann::json json = nlohmann::json::parse(json_text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  auto get = [&](const char* key, int64_t* out) -> absl::Status {
    if (!json.contains(key) || !json[key].is_number_integer() || json[key].get<int64_t>() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": key '", key, "' is missing or not a positive integer"));
    }
    *out = json[key].get<int64_t>();
    return absl::OkStatus();
  };
  ModelShape shape;
  shape.name = source;
  MEMR1_RETURN_IF_ERROR(get("vocab_size", &shape.vocab_size));
  MEMR1_RETURN_IF_ERROR(get("hidden_size", &shape.hidden_size));
  MEMR1_RETURN_IF_ERROR(get("intermediate_size", &shape.intermediate_size));
  MEMR1_RETURN_IF_ERROR(get("num_hidden_layers", &shape.num_layers));
  MEMR1_RETURN_IF_ERROR(get("num_attention_heads", &shape.num_heads));
  shape.num_kv_heads = shape.num_heads;
  if (json.contains("num_key_value_heads")) {
    MEMR1_RETURN_IF_ERROR(get("num_key_value_heads", &shape.num_kv_heads));
  }
  shape.head_dim = shape.hidden_size / shape.num_heads;
  if (json.contains("head_dim") && !json["head_dim"].is_null()) {
    MEMR1_RETURN_IF_ERROR(get("head_dim", &shape.head_dim));
  }
  shape.tie_word_embeddings = json.value("tie_word_embeddings", false);
  const std::string model_type = json.value("model_type", "");
  shape.attention_bias = model_type == "qwen2" || json.value("attention_bias", false);
  return shape;
}

absl::StatusOr<ModelShape> ResolveModelShape(const std::string& model_path) {
  std::error_code ec;
  fs::path config = model_path;
  if (fs::is_directory(config, ec)) config /= "config.json";
  if (!model_path.empty() && fs::is_regular_file(config, ec)) {
    MEMR1_ASSIGN_OR_RETURN(const std::string text, ReadFileToString(config.string()));
    return ParseModelShape(text, config.string());
  }
  std::string base = absl::AsciiStrToLower(fs::path(model_path).filename().string());
  if (base.empty()) base = absl::AsciiStrToLower(fs::path(model_path).parent_path().filename().string());
  for (const ModelShape& shape : KnownModelShapes()) {
    const std::string known = absl::AsciiStrToLower(shape.name);
    if (base == known || absl::StrCat(base, "-instruct") == known) return shape;
  }
  std::string names;
  for (const ModelShape& shape : KnownModelShapes()) absl::StrAppend(&names, " ", shape.name);
  return absl::NotFoundError(absl::StrCat("model.path '", model_path,
                                          "' has no config.json and is not a known model (known:",
                                          names, ")"));
}

}  // namespace memr1::learner
