#pragma once

// A tiny random Qwen2 model directory for actor tests: a byte-level BPE tokenizer trained on
// `corpus` (with the ChatML special tokens, so the qwen2.5 chat template applies) and a
// randomly initialised 2-layer model of that vocabulary, written in the Hugging Face layout.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "c10/core/Device.h"
#include "common/status_macros.h"
#include "llm/bpe_trainer.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/model_config.h"
#include "llm/model_init.h"

namespace memr1::actor::testing {

inline absl::Status WriteTinyModel(const std::string& dir, const std::vector<std::string>& corpus,
                                   uint64_t seed = 0, int vocab_size = 600) {
  llm::BpeTrainerOptions tokenizer_options;
  tokenizer_options.vocab_size = vocab_size;
  tokenizer_options.min_frequency = 1;
  MEMR1_ASSIGN_OR_RETURN(llm::TrainedTokenizer trained, llm::TrainBpe(corpus, tokenizer_options));
  MEMR1_RETURN_IF_ERROR(llm::WriteTrainedTokenizer(trained, dir));
  llm::ModelConfig config;
  config.arch = llm::Architecture::kQwen2;
  config.vocab_size = trained.vocab_size;
  config.hidden_size = 32;
  config.intermediate_size = 64;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.num_key_value_heads = 2;
  config.head_dim = 8;
  config.max_position_embeddings = 4096;
  config.attention_bias = true;
  config.eos_token_ids = {trained.vocab_size - 1};
  MEMR1_ASSIGN_OR_RETURN(auto model,
                         llm::CausalLM::Create(config, c10::Device("cpu"), c10::kFloat));
  llm::InitOptions init;
  init.seed = seed;
  MEMR1_RETURN_IF_ERROR(llm::InitializeRandom(model.get(), init));
  return llm::SaveCausalLM(*model, dir);
}

}  // namespace memr1::actor::testing
