#pragma once

// Helpers shared by the model suites: temp directories and tiny random checkpoints.

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/model_config.h"
#include "llm/model_init.h"

namespace memr1::llm::testing {

// A fresh directory under the test's temp dir, removed at destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "memr1_model_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Small configs of each family exercising its features: GQA everywhere; Qwen2 biases; Qwen3
// q/k norm with head_dim != hidden/heads and tied embeddings; Llama-3.1 RoPE scaling.
inline ModelConfig TinyConfig(Architecture arch) {
  std::string overrides;
  switch (arch) {
    case Architecture::kQwen2:
      overrides = R"({"vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                      "rope_theta": 10000.0, "rms_norm_eps": 1e-6})";
      break;
    case Architecture::kQwen3:
      overrides = R"({"vocab_size": 96, "hidden_size": 32, "intermediate_size": 64,
                      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 1,
                      "head_dim": 12, "tie_word_embeddings": true, "rope_theta": 1000000.0})";
      break;
    case Architecture::kLlama:
      overrides = R"({"vocab_size": 96, "hidden_size": 32, "intermediate_size": 48,
                      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
                      "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                      "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0,
                                       "original_max_position_embeddings": 16}})";
      break;
  }
  auto config = MakeModelConfig(arch, overrides, "test config");
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

// A randomly initialised model (std 0.2 so that logits are peaked and greedy choices are
// robust to rounding; biases and norms perturbed so dropping one would be noticed).
inline std::unique_ptr<CausalLM> TinyModel(Architecture arch, uint64_t seed = 1,
                                           c10::ScalarType dtype = at::kFloat) {
  auto model = CausalLM::Create(TinyConfig(arch), at::kCPU, dtype);
  EXPECT_TRUE(model.ok()) << model.status();
  InitOptions init;
  init.seed = seed;
  init.std = 0.2;
  init.perturb = 0.2;
  EXPECT_TRUE(InitializeRandom(model->get(), init).ok());
  return std::move(*model);
}

// A Qwen2 with `config_json`'s shapes (config.json keys over the defaults) and the default random
// initialisation from `seed`: the learner suites' small policies.
inline std::unique_ptr<CausalLM> RandomQwen2(const std::string& config_json, uint64_t seed) {
  auto config = MakeModelConfig(Architecture::kQwen2, config_json, "test config");
  EXPECT_TRUE(config.ok()) << config.status();
  auto model = CausalLM::Create(*config, at::kCPU, at::kFloat);
  EXPECT_TRUE(model.ok()) << model.status();
  InitOptions init;
  init.seed = seed;
  EXPECT_TRUE(InitializeRandom(model->get(), init).ok());
  return std::move(*model);
}

inline const char* ArchName(Architecture arch) {
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

inline at::Tensor Ids(const std::vector<int64_t>& ids) {
  return at::tensor(ids, at::kLong).unsqueeze(0);
}

}  // namespace memr1::llm::testing
