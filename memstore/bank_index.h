#pragma once

// BankIndex: the live memories of one bank at one seq, with what search needs over them: BM25
// postings (term -> memory -> term frequency), document lengths and embedding norms.
//
// BankStore builds one by reading a bank's state from RocksDB (for a point-in-time read) or
// keeps one per recently used bank at its latest seq and updates it in place on Apply, so a
// search at the latest seq reads no storage.
//
// Search semantics (also documented in memstore.proto, SearchMode):
//  - BM25: Okapi with k1 = 1.2, b = 0.75 and idf = ln(1 + (N - df + 0.5) / (df + 0.5)) over all
//    live memories (N, df and the average length ignore the speaker filter, which only selects
//    hits). Each distinct query token counts once. Memories sharing no token are not hits.
//  - DENSE: cosine similarity between the query embedding and each memory's embedding;
//    memories without an embedding (or with a zero one) are not hits.
//  - HYBRID: reciprocal-rank fusion of the two complete rankings, score = sum 1 / (60 + rank).
//  Ties are broken by memory number, so results are deterministic.
//
// Thread safety: not thread safe; BankStore guards each instance with its bank's lock
// (const methods may run concurrently with each other).

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "memr1/v1/memstore.pb.h"

namespace memr1::memstore {

inline constexpr double kBm25K1 = 1.2;
inline constexpr double kBm25B = 0.75;
inline constexpr double kRrfK = 60.0;

class BankIndex {
 public:
  BankIndex() = default;

  // Adds the memory numbered `number`, replacing an earlier one with that number.
  void Put(uint64_t number, v1::Memory memory);
  // Removes it; no-op when absent.
  void Remove(uint64_t number);
  // The memory numbered `number`, or null. Valid until the next Put/Remove.
  const v1::Memory* Find(uint64_t number) const;
  size_t size() const { return docs_.size(); }

  // Calls `fn(number, memory)` in number order for numbers > `after`, until it returns false.
  template <typename Fn>
  void ForEachAfter(uint64_t after, Fn fn) const {
    for (auto it = docs_.upper_bound(after); it != docs_.end(); ++it) {
      if (!fn(it->first, it->second.memory)) return;
    }
  }

  // Runs `request` (its bank and as_of_seq are the caller's business). `embedding_dim` is the
  // bank's (0: none yet). InvalidArgument: empty query for BM25/HYBRID, missing query embedding
  // for DENSE/HYBRID or one whose size is not `embedding_dim`, k outside 0..1000.
  absl::StatusOr<v1::SearchResponse> Search(const v1::SearchRequest& request,
                                            uint32_t embedding_dim) const;

 private:
  struct Doc {
    v1::Memory memory;
    uint32_t length = 0;
    double norm = 0;  // Euclidean norm of the embedding (0 when none)
  };
  struct Ranked {
    uint64_t number;
    double score;
  };

  std::vector<Ranked> RankBm25(const std::string& query) const;
  std::vector<Ranked> RankDense(const std::vector<float>& query) const;

  std::map<uint64_t, Doc> docs_;
  std::unordered_map<std::string, std::unordered_map<uint64_t, uint32_t>> postings_;
  uint64_t total_length_ = 0;
};

}  // namespace memr1::memstore
