#include "llm/model_config.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace memr1::llm {

namespace {

using Json = nlohmann::json;

// Keys we read or that change nothing in inference/training here (dropout is 0 in HF configs
// of these families; `use_cache`, token ids and bookkeeping keys are not numerics).
const std::set<std::string>& KnownKeys() {
  static const auto* keys = new std::set<std::string>{
      "architectures", "model_type", "vocab_size", "hidden_size", "intermediate_size",
      "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
      "max_position_embeddings", "rope_theta", "rms_norm_eps", "initializer_range",
      "tie_word_embeddings", "attention_bias", "mlp_bias", "rope_scaling", "torch_dtype",
      "bos_token_id", "eos_token_id", "pad_token_id", "hidden_act", "use_sliding_window",
      "sliding_window", "max_window_layers", "attention_dropout", "use_cache",
      "transformers_version", "pretraining_tp", "_name_or_path", "layer_types", "dtype",
      "rope_parameters", "torchscript", "return_dict", "output_hidden_states",
      "output_attentions", "is_encoder_decoder", "id2label", "label2id", "quantization_config"};
  return *keys;
}

absl::Status KeyError(const std::string& source, const std::string& key, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(source, ": key \"", key, "\": ", what));
}

absl::StatusOr<int64_t> GetInt(const Json& json, const std::string& source, const std::string& key,
                               std::optional<int64_t> fallback) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) {
    if (fallback.has_value()) return *fallback;
    return KeyError(source, key, "missing (required)");
  }
  if (!it->is_number_integer()) return KeyError(source, key, "must be an integer");
  return it->get<int64_t>();
}

absl::StatusOr<double> GetDouble(const Json& json, const std::string& source,
                                 const std::string& key, double fallback) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  if (!it->is_number()) return KeyError(source, key, "must be a number");
  return it->get<double>();
}

absl::StatusOr<bool> GetBool(const Json& json, const std::string& source, const std::string& key,
                             bool fallback) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) return KeyError(source, key, "must be true or false");
  return it->get<bool>();
}

absl::StatusOr<std::optional<Llama3RopeScaling>> ParseRopeScaling(const Json& json,
                                                                  const std::string& source) {
  auto it = json.find("rope_scaling");
  if (it == json.end() || it->is_null()) return std::optional<Llama3RopeScaling>();
  if (!it->is_object()) return KeyError(source, "rope_scaling", "must be an object or null");
  std::string type;
  for (const char* name : {"rope_type", "type"}) {
    auto t = it->find(name);
    if (t != it->end() && t->is_string()) {
      type = t->get<std::string>();
      break;
    }
  }
  if (type == "default") return std::optional<Llama3RopeScaling>();
  if (type != "llama3") {
    return KeyError(source, "rope_scaling",
                    absl::StrCat("unsupported RoPE scaling type \"", type,
                                 "\" (supported: llama3, default)"));
  }
  Llama3RopeScaling scaling;
  const std::string where = source + " rope_scaling";
  auto f = GetDouble(*it, where, "factor", scaling.factor);
  auto lo = GetDouble(*it, where, "low_freq_factor", scaling.low_freq_factor);
  auto hi = GetDouble(*it, where, "high_freq_factor", scaling.high_freq_factor);
  auto orig = GetInt(*it, where, "original_max_position_embeddings",
                     scaling.original_max_position_embeddings);
  for (const absl::Status& s : {f.status(), lo.status(), hi.status(), orig.status()}) {
    if (!s.ok()) return s;
  }
  scaling.factor = *f;
  scaling.low_freq_factor = *lo;
  scaling.high_freq_factor = *hi;
  scaling.original_max_position_embeddings = *orig;
  if (!(scaling.factor > 0) || !(scaling.high_freq_factor > scaling.low_freq_factor) ||
      !(scaling.low_freq_factor > 0) || scaling.original_max_position_embeddings <= 0) {
    return KeyError(source, "rope_scaling",
                    "llama3 scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor "
                    "and original_max_position_embeddings > 0");
  }
  return std::optional<Llama3RopeScaling>(scaling);
}

Json DefaultConfigJson(Architecture arch) {
  Json json = {{"vocab_size", 256},          {"hidden_size", 64},
               {"intermediate_size", 128},   {"num_hidden_layers", 2},
               {"num_attention_heads", 4},   {"num_key_value_heads", 2},
               {"max_position_embeddings", 2048}, {"rope_theta", 10000.0},
               {"rms_norm_eps", 1e-6},       {"tie_word_embeddings", false},
               {"hidden_act", "silu"},       {"initializer_range", 0.02},
               {"torch_dtype", "float32"},   {"bos_token_id", 1},
               {"eos_token_id", 2}};
  if (arch == Architecture::kQwen3) json["head_dim"] = 16;
  return json;
}

}  // namespace

std::string ArchitectureClassName(Architecture arch) {
  switch (arch) {
    case Architecture::kQwen2:
      return "Qwen2ForCausalLM";
    case Architecture::kQwen3:
      return "Qwen3ForCausalLM";
    case Architecture::kLlama:
      return "LlamaForCausalLM";
  }
  return "";
}

std::string ArchitectureModelType(Architecture arch) {
  switch (arch) {
    case Architecture::kQwen2:
      return "qwen2";
    case Architecture::kQwen3:
      return "qwen3";
    case Architecture::kLlama:
      return "llama";
  }
  return "";
}

absl::StatusOr<Architecture> ParseArchitecture(const std::string& name) {
  for (Architecture arch : {Architecture::kQwen2, Architecture::kQwen3, Architecture::kLlama}) {
    if (name == ArchitectureModelType(arch) || name == ArchitectureClassName(arch)) return arch;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown architecture \"", name, "\" (supported: qwen2, qwen3, llama)"));
}

absl::Status ModelConfig::Validate() const {
  auto positive = [](int64_t v) { return v > 0; };
  if (!positive(vocab_size) || !positive(hidden_size) || !positive(intermediate_size) ||
      !positive(num_hidden_layers) || !positive(num_attention_heads) ||
      !positive(num_key_value_heads) || !positive(head_dim) ||
      !positive(max_position_embeddings)) {
    return absl::InvalidArgumentError(
        "vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, "
        "num_key_value_heads, head_dim and max_position_embeddings must be positive");
  }
  if (num_attention_heads % num_key_value_heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "num_attention_heads (", num_attention_heads, ") is not a multiple of num_key_value_heads (",
        num_key_value_heads, ")"));
  }
  if (head_dim % 2 != 0) {
    return absl::InvalidArgumentError(absl::StrCat("head_dim (", head_dim, ") must be even"));
  }
  if (!(rope_theta > 0) || !(rms_norm_eps > 0)) {
    return absl::InvalidArgumentError("rope_theta and rms_norm_eps must be positive");
  }
  return absl::OkStatus();
}

int64_t ModelConfig::NumParameters() const {
  const int64_t q = num_attention_heads * head_dim;
  const int64_t kv = num_key_value_heads * head_dim;
  int64_t layer = hidden_size * q + 2 * hidden_size * kv + q * hidden_size +
                  3 * hidden_size * intermediate_size + 2 * hidden_size;
  if (attention_bias) layer += q + 2 * kv;
  if (qk_norm) layer += 2 * head_dim;
  const int64_t embed = vocab_size * hidden_size;
  return num_hidden_layers * layer + embed * (tie_word_embeddings ? 1 : 2) + hidden_size;
}

absl::StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text,
                                             const std::string& source) {
  Json json = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
  }
  ModelConfig config;
  // The architecture: `architectures` names the class; `model_type` must agree.
  auto archs = json.find("architectures");
  if (archs == json.end() || !archs->is_array() || archs->size() != 1 ||
      !(*archs)[0].is_string()) {
    return KeyError(source, "architectures", "must be a list with one class name");
  }
  const std::string class_name = (*archs)[0].get<std::string>();
  bool found = false;
  for (Architecture arch : {Architecture::kQwen2, Architecture::kQwen3, Architecture::kLlama}) {
    if (class_name == ArchitectureClassName(arch)) {
      config.arch = arch;
      found = true;
    }
  }
  if (!found) {
    return KeyError(source, "architectures",
                    absl::StrCat("unsupported architecture \"", class_name,
                                 "\" (supported: Qwen2ForCausalLM, Qwen3ForCausalLM, "
                                 "LlamaForCausalLM)"));
  }
  auto model_type = json.find("model_type");
  if (model_type != json.end() && model_type->is_string() &&
      model_type->get<std::string>() != ArchitectureModelType(config.arch)) {
    return KeyError(source, "model_type",
                    absl::StrCat("\"", model_type->get<std::string>(), "\" does not match ",
                                 class_name));
  }
  for (const auto& item : json.items()) {
    if (KnownKeys().count(item.key()) == 0) {
      return KeyError(source, item.key(), "unsupported config key");
    }
  }

#define MEMR1_READ(field, expr)            \
  {                                        \
    auto value = (expr);                   \
    if (!value.ok()) return value.status(); \
    config.field = *value;                 \
  }
  MEMR1_READ(vocab_size, GetInt(json, source, "vocab_size", std::nullopt));
  MEMR1_READ(hidden_size, GetInt(json, source, "hidden_size", std::nullopt));
  MEMR1_READ(intermediate_size, GetInt(json, source, "intermediate_size", std::nullopt));
  MEMR1_READ(num_hidden_layers, GetInt(json, source, "num_hidden_layers", std::nullopt));
  MEMR1_READ(num_attention_heads, GetInt(json, source, "num_attention_heads", std::nullopt));
  MEMR1_READ(num_key_value_heads,
             GetInt(json, source, "num_key_value_heads", config.num_attention_heads));
  const int64_t default_head_dim =
      config.arch == Architecture::kQwen3 ? 128
      : config.num_attention_heads > 0    ? config.hidden_size / config.num_attention_heads
                                          : 0;
  MEMR1_READ(head_dim, GetInt(json, source, "head_dim", default_head_dim));
  MEMR1_READ(max_position_embeddings,
             GetInt(json, source, "max_position_embeddings",
                    config.arch == Architecture::kLlama ? 2048 : 32768));
  MEMR1_READ(rope_theta, GetDouble(json, source, "rope_theta", 10000.0));
  MEMR1_READ(rms_norm_eps, GetDouble(json, source, "rms_norm_eps", 1e-6));
  MEMR1_READ(initializer_range, GetDouble(json, source, "initializer_range", 0.02));
  MEMR1_READ(tie_word_embeddings, GetBool(json, source, "tie_word_embeddings", false));
  MEMR1_READ(attention_bias, GetBool(json, source, "attention_bias", false));
  MEMR1_READ(rope_scaling, ParseRopeScaling(json, source));
#undef MEMR1_READ
  // Qwen2 has q/k/v biases whatever the config says; Qwen3 normalises q and k per head.
  if (config.arch == Architecture::kQwen2) config.attention_bias = true;
  config.qk_norm = config.arch == Architecture::kQwen3;

  auto act = json.find("hidden_act");
  if (act != json.end() && !(act->is_string() && act->get<std::string>() == "silu")) {
    return KeyError(source, "hidden_act", "unsupported activation (supported: silu)");
  }
  auto mlp_bias = GetBool(json, source, "mlp_bias", false);
  if (!mlp_bias.ok()) return mlp_bias.status();
  if (*mlp_bias) return KeyError(source, "mlp_bias", "MLP biases are not supported");
  auto sliding = GetBool(json, source, "use_sliding_window", false);
  if (!sliding.ok()) return sliding.status();
  if (*sliding) return KeyError(source, "use_sliding_window", "sliding-window attention is not supported");
  if (config.rope_scaling.has_value() && config.arch != Architecture::kLlama) {
    return KeyError(source, "rope_scaling", "llama3 RoPE scaling is only supported for Llama");
  }
  for (const char* key : {"torch_dtype", "dtype"}) {
    auto it = json.find(key);
    if (it != json.end() && it->is_string()) config.torch_dtype = it->get<std::string>();
  }
  auto bos = json.find("bos_token_id");
  if (bos != json.end() && bos->is_number_integer()) config.bos_token_id = bos->get<int64_t>();
  auto eos = json.find("eos_token_id");
  if (eos != json.end()) {
    if (eos->is_number_integer()) {
      config.eos_token_ids.push_back(eos->get<int64_t>());
    } else if (eos->is_array()) {
      for (const Json& id : *eos) {
        if (!id.is_number_integer()) return KeyError(source, "eos_token_id", "must hold integers");
        config.eos_token_ids.push_back(id.get<int64_t>());
      }
    } else if (!eos->is_null()) {
      return KeyError(source, "eos_token_id", "must be an integer or a list of integers");
    }
  }
  absl::Status valid = config.Validate();
  if (!valid.ok()) return absl::InvalidArgumentError(absl::StrCat(source, ": ", valid.message()));
  return config;
}

absl::StatusOr<ModelConfig> LoadModelConfig(const std::string& path) {
  std::error_code ec;
  const std::string file =
      std::filesystem::is_directory(path, ec) ? path + "/config.json" : path;
  std::ifstream in(file, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(file, ": cannot open model config"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseModelConfig(text.str(), file);
}

std::string ModelConfigToJson(const ModelConfig& config) {
  Json json;
  json["architectures"] = Json::array({ArchitectureClassName(config.arch)});
  json["model_type"] = ArchitectureModelType(config.arch);
  json["vocab_size"] = config.vocab_size;
  json["hidden_size"] = config.hidden_size;
  json["intermediate_size"] = config.intermediate_size;
  json["num_hidden_layers"] = config.num_hidden_layers;
  json["num_attention_heads"] = config.num_attention_heads;
  json["num_key_value_heads"] = config.num_key_value_heads;
  json["head_dim"] = config.head_dim;
  json["max_position_embeddings"] = config.max_position_embeddings;
  json["rope_theta"] = config.rope_theta;
  json["rms_norm_eps"] = config.rms_norm_eps;
  json["initializer_range"] = config.initializer_range;
  json["tie_word_embeddings"] = config.tie_word_embeddings;
  json["hidden_act"] = "silu";
  json["torch_dtype"] = config.torch_dtype;
  json["use_cache"] = true;
  if (config.arch != Architecture::kQwen2) json["attention_bias"] = config.attention_bias;
  if (config.arch == Architecture::kLlama) json["mlp_bias"] = false;
  if (config.arch != Architecture::kLlama) json["use_sliding_window"] = false;
  if (config.rope_scaling.has_value()) {
    json["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", config.rope_scaling->factor},
        {"low_freq_factor", config.rope_scaling->low_freq_factor},
        {"high_freq_factor", config.rope_scaling->high_freq_factor},
        {"original_max_position_embeddings",
         config.rope_scaling->original_max_position_embeddings}};
  } else {
    json["rope_scaling"] = nullptr;
  }
  if (config.bos_token_id.has_value()) json["bos_token_id"] = *config.bos_token_id;
  if (config.eos_token_ids.size() == 1) {
    json["eos_token_id"] = config.eos_token_ids[0];
  } else if (!config.eos_token_ids.empty()) {
    json["eos_token_id"] = config.eos_token_ids;
  }
  return json.dump(2) + "\n";
}

absl::StatusOr<ModelConfig> MakeModelConfig(Architecture arch, const std::string& overrides_json,
                                            const std::string& source) {
  Json json = DefaultConfigJson(arch);
  if (!overrides_json.empty()) {
    Json overrides = Json::parse(overrides_json, nullptr, /*allow_exceptions=*/false);
    if (overrides.is_discarded() || !overrides.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(source, ": not a JSON object"));
    }
    json.update(overrides);
  }
  json["architectures"] = Json::array({ArchitectureClassName(arch)});
  json["model_type"] = ArchitectureModelType(arch);
  return ParseModelConfig(json.dump(), source);
}

}  // namespace memr1::llm
