#pragma once

// The memstore benchmark behind `memr1 memstore bench`: a bounded load generator against a
// running shard on loopback, with its baselines measured in the same run.
//
//  - RPC limit: the Echo service of the same server process, at the same client counts.
//  - Apply: each client appends to its own bank (ops_per_apply ADDs per request).
//  - Search: all clients query one bank of `search_memories` synthetic memories (BM25, k).
//  - BM25 baseline: SQLite FTS5 (bm25(), k1 = 1.2, b = 0.75) over the same memories and
//    queries in this process, against memstore's BankIndex in this process; plus the overlap of
//    their top-k.
//  - Fork: copy-on-write fork of banks of each size in `fork_sizes`, the first search of each
//    fork, and a full copy (Export + Import) of the same bank for comparison.
// Memories and queries are synthetic (a Zipf-distributed vocabulary, fixed seed), so runs are
// repeatable. Every loop is bounded by counts, never by time.
//
// Thread safety: RunBench is a blocking function; it starts and joins its own threads.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memstore/client.h"

namespace memr1::memstore {

struct BenchOptions {
  // host:port of the memstore shard (it also serves Echo).
  std::string target;
  ClientOptions client;
  std::vector<int> clients = {1, 4, 16};
  // Requests per client in each Apply / Search / Echo phase.
  int requests_per_client = 200;
  int ops_per_apply = 1;
  int search_memories = 1000;
  int k = 10;
  std::vector<int> fork_sizes = {100, 1000, 10000};
  int forks_per_size = 16;
  // Prefix of the banks the benchmark creates (and drops at the end).
  std::string bank_prefix = "bench";
  uint64_t seed = 1;
};

struct LatencyStats {
  int count = 0;
  int errors = 0;
  double p50_us = 0;
  double p99_us = 0;
  double ops_per_second = 0;
};

struct BenchReport {
  struct LoadRow {
    std::string what;  // "echo", "apply", "search"
    int clients = 0;
    LatencyStats stats;
  };
  std::vector<LoadRow> load;
  LatencyStats fts5_query;      // SQLite FTS5, in process
  LatencyStats bankindex_query;  // memstore BankIndex, in process
  double top_k_overlap = 0;      // mean |memstore top-k ∩ FTS5 top-k| / k
  struct ForkRow {
    int memories = 0;
    LatencyStats fork;
    LatencyStats first_search;
    double copy_us = 0;  // Export + Import of the same bank
  };
  std::vector<ForkRow> forks;

  // Markdown tables with the ratios to the baselines.
  std::string ToMarkdown() const;
};

// Runs every phase. Errors: Unavailable/... when the target cannot be reached or a setup call
// fails (individual failed requests of a load phase are counted, not fatal).
absl::StatusOr<BenchReport> RunBench(const BenchOptions& options);

}  // namespace memr1::memstore
