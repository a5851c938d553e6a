#pragma once

// The byte-level BPE model of a Hugging Face tokenizer.json: a vocabulary, ranked merges, and
// the merge loop that turns one pre-tokenized word into ids, with a bounded merge cache.
//
// Thread safety: immutable after FromJson apart from the cache, which is internally
// synchronized (sharded mutexes); EncodeWord may be called concurrently.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace memr1::llm {

class BpeModel {
 public:
  // Parses tokenizer.json's "model" object. Requires type BPE with every byte-level stand-in
  // in the vocabulary; Unimplemented names options it does not support (dropout, unk_token,
  // byte_fallback, continuing_subword_prefix, end_of_word_suffix). InvalidArgument for a merge
  // whose parts or result are not in the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(const nlohmann::json& model);

  // Builds a model directly (the trainer's output path, and tests). `merges` are pairs of
  // token strings in rank order.
  static absl::StatusOr<std::unique_ptr<BpeModel>> Create(
      std::vector<std::string> id_to_token,
      const std::vector<std::pair<std::string, std::string>>& merges, bool ignore_merges);

  ~BpeModel();

  // Appends the ids of `word`, given as raw bytes (the byte-level mapping is applied here).
  void EncodeWord(std::string_view word, std::vector<int32_t>* ids) const;

  // Vocabulary look-ups (byte-level token strings).
  std::optional<int32_t> TokenToId(std::string_view token) const;
  // "" for an id that is not in the vocabulary (a hole).
  const std::string& IdToToken(int32_t id) const;
  // The bytes token `id` stands for (its byte-level decoding); for a token with characters
  // outside the byte alphabet, its UTF-8 text, as HF's ByteLevel decoder does.
  const std::string& TokenBytes(int32_t id) const;
  // One past the largest id in the vocabulary.
  int32_t size() const { return static_cast<int32_t>(id_to_token_.size()); }

  // Merge-cache statistics (for benchmarks).
  size_t cache_entries() const;

 private:
  BpeModel() = default;
  absl::Status Init(const std::vector<std::pair<std::string, std::string>>& merges);
  void MergeWord(std::string_view word, std::vector<int32_t>* ids) const;

  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  static uint64_t PairKey(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }

  absl::flat_hash_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::vector<std::string> id_to_bytes_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_ids_{};
  bool ignore_merges_ = false;

  // Words of at most kMaxCachedWordBytes bytes are cached, up to kCacheEntriesPerShard per
  // shard; a full shard stops taking entries (HF does the same).
  static constexpr size_t kCacheShards = 32;
  static constexpr size_t kCacheEntriesPerShard = 8192;
  static constexpr size_t kMaxCachedWordBytes = 64;
  struct CacheShard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, std::vector<int32_t>> map ABSL_GUARDED_BY(mu);
  };
  mutable std::array<CacheShard, kCacheShards> cache_;
};

}  // namespace memr1::llm
