#pragma once

// A byte-level BPE trainer that writes Hugging Face tokenizer files: `tokenizer.json` in the
// layout of Qwen-2.5's (NFC, the Qwen split regex, ByteLevel, BPE) and a
// `tokenizer_config.json` with the ChatML special tokens and Qwen-2.5's chat template, so the
// tiny models of the tests and quickstart use the same code paths as the real ones.
//
// Training: the corpus is normalized and pre-tokenized exactly as the written tokenizer will
// do it (special-token strings are cut out first), words are counted, and the most frequent
// adjacent pair is merged until the vocabulary is full or no pair occurs `min_frequency`
// times. Ties are broken by the smaller pair of ids, so training is deterministic.
//
// Thread safety: stateless functions.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace memr1::llm {

struct BpeTrainerOptions {
  // Total ids: 256 byte tokens + merges + special tokens.
  int32_t vocab_size = 4096;
  // Pairs seen fewer times than this are never merged.
  int64_t min_frequency = 2;
  // Added as special tokens after the learned vocabulary, in this order. The first is the pad
  // token, the last the eos token of the written tokenizer_config.json.
  std::vector<std::string> special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

  // InvalidArgument when vocab_size cannot hold the byte tokens and the special tokens.
  absl::Status Validate() const;
};

struct TrainedTokenizer {
  std::string tokenizer_json;
  std::string tokenizer_config_json;
  int32_t vocab_size = 0;
  int32_t num_merges = 0;
};

// Trains on `texts` (each valid UTF-8; InvalidArgument naming the index otherwise).
absl::StatusOr<TrainedTokenizer> TrainBpe(absl::Span<const std::string> texts,
                                          const BpeTrainerOptions& options);

// Trains on the lines of a UTF-8 text file (each line with its newline).
absl::StatusOr<TrainedTokenizer> TrainBpeFromFile(const std::string& path,
                                                  const BpeTrainerOptions& options);

// Writes tokenizer.json and tokenizer_config.json into `dir` (created if missing). Each file
// is written to a temporary name and renamed, so a reader never sees half a file.
absl::Status WriteTrainedTokenizer(const TrainedTokenizer& trained, const std::string& dir);

}  // namespace memr1::llm
