#pragma once

// Data for the supervised learner (learner.algorithm SFT) beyond stored trajectories:
// language-model pretraining text packed into trajectories, and the seeded order in which a data
// set is visited over several epochs.
//
// Packing. Every document becomes [BOS] tokens EOS (BOS only when the tokenizer has one), and
// the documents are concatenated into one stream; a tokenizer without BOS (Qwen, memr1's own
// BPE) starts the stream with one EOS instead, as GPT-2 does, so that the first text token has
// something to be predicted from. The stream is cut into sequences of at most `max_tokens`
// tokens that overlap by one token: sequence k is stream[k(N-1) .. k(N-1)+N), its first token
// is the 1-token prompt and the rest is the response. Every stream token after the first is
// therefore a response token (trained on) exactly once, and each one is predicted from the
// tokens before it in its sequence. Documents run across sequence boundaries and share
// sequences (attention is not reset at EOS), the usual packing of causal-LM pretraining.
//
// Thread safety: functions are pure; an EpochOrder is not thread safe (it caches one epoch).

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memr1/v1/trajectory.pb.h"

namespace memr1::learner {

struct TextDocument {
  std::string text;
  std::string where;  // "path:line", for errors found later (tokenization)
};

// Reads JSON lines {"text": "..."} (the input of `memr1 tokenize`; other keys are ignored,
// blank lines skipped). NotFound for an unreadable file; InvalidArgument naming "path:line" for
// a line that is not a JSON object with a non-empty string "text", or for a file without
// documents. All or nothing.
absl::StatusOr<std::vector<TextDocument>> ReadTextJsonl(const std::string& path);

struct PackOptions {
  // Tokens per sequence, the 1-token prompt included (>= 2).
  int64_t max_tokens = 512;
  // Put before every document when >= 0 (the tokenizer's bos_token).
  int32_t bos_id = -1;
  // Put after every document (the tokenizer's eos_token; required, >= 0).
  int32_t eos_id = -1;
};

// Packs tokenized documents as described above into trajectories with ids "text-<k>", a 1-token
// prompt, the rest as response tokens, no loss mask (every response token trained), no
// behaviour log-probs and reward 0. InvalidArgument for bad options or no documents.
absl::StatusOr<std::vector<v1::Trajectory>> PackDocuments(
    const std::vector<std::vector<int32_t>>& documents, const PackOptions& options);

// The order in which a data set of `size` examples is visited, epoch after epoch: position p
// (0, 1, 2, ...) is example Index(p) of epoch p / size. With `shuffle`, every epoch is its own
// permutation, drawn from (seed, epoch) by a Fisher-Yates shuffle over std::mt19937_64 seeded
// through std::seed_seq (all three fully specified by the C++ standard, so the order is the
// same on every platform); without, the examples' own order (what RL needs: GRPO groups are
// stored contiguously and must stay whole).
class EpochOrder {
 public:
  // `size` must be positive (checked by the caller; a CHECK-level programmer error here).
  EpochOrder(int64_t size, uint64_t seed, bool shuffle);

  int64_t Index(int64_t position);
  int64_t size() const { return size_; }

 private:
  int64_t size_;
  uint64_t seed_;
  bool shuffle_;
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> permutation_;
};

}  // namespace memr1::learner
