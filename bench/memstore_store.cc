// In-process BankStore costs, without RPC: copy-on-write Fork against a full copy of the same
// bank (the store's own copying fork, max_fork_depth = 0) for 100 / 1,000 / 10,000 memories,
// the first search of a fork (which builds its index), and a one-op Apply.
//
//   build/bench/bench_memstore_store --benchmark_counters_tabular=true
//
// The RPC-level benchmark with the Echo and SQLite FTS5 baselines is `memr1 memstore bench`.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "absl/strings/str_cat.h"
#include "memstore/bank_store.h"

namespace {

using memr1::memstore::BankStore;
using memr1::memstore::StoreOptions;
namespace v1 = memr1::v1;

std::string TempDir() {
  std::string pattern = "/tmp/bench_memstore_XXXXXX";
  return mkdtemp(pattern.data());
}

std::string Words(std::mt19937_64& engine, int count) {
  std::string text;
  for (int i = 0; i < count; ++i) {
    absl::StrAppend(&text, i ? " " : "", "w", engine() % 5000);
  }
  return text;
}

// A store in a fresh directory with one bank "src" of `memories` memories.
struct Fixture {
  Fixture(int memories, int max_fork_depth) : dir(TempDir()) {
    StoreOptions options;
    options.data_dir = dir;
    options.max_fork_depth = max_fork_depth;
    options.max_ops_per_request = 1000;
    store = std::move(*BankStore::Open(options));
    v1::CreateBankRequest create;
    create.set_bank("src");
    (void)store->CreateBank("bench", create);
    std::mt19937_64 engine(1);
    for (int begin = 0; begin < memories; begin += 1000) {
      v1::ApplyRequest apply;
      apply.set_bank("src");
      for (int i = begin; i < memories && i < begin + 1000; ++i) {
        v1::Operation* op = apply.add_ops();
        op->set_event(v1::ADD);
        op->set_text(Words(engine, 12));
      }
      (void)store->Apply("bench", apply);
    }
    // As in an episode, the source has been searched (its index is warm) before forking.
    v1::SearchRequest warm;
    warm.set_bank("src");
    warm.set_query("w1");
    (void)store->Search("bench", warm);
  }
  ~Fixture() {
    store.reset();
    std::filesystem::remove_all(dir);
  }
  std::string dir;
  std::unique_ptr<BankStore> store;
};

void RunFork(benchmark::State& state, int max_fork_depth, bool search) {
  Fixture fixture(static_cast<int>(state.range(0)), max_fork_depth);
  int i = 0;
  for (auto _ : state) {
    v1::ForkRequest fork;
    fork.set_source_bank("src");
    fork.set_bank(absl::StrCat("src/g", i++));
    auto info = fixture.store->Fork("bench", fork);
    if (!info.ok()) state.SkipWithError(std::string(info.status().message()).c_str());
    if (search) {
      v1::SearchRequest request;
      request.set_bank(fork.bank());
      request.set_query("w1 w2 w3");
      benchmark::DoNotOptimize(fixture.store->Search("bench", request));
    }
    state.PauseTiming();
    (void)fixture.store->Drop("bench", fork.bank());
    state.ResumeTiming();
  }
  state.counters["memories"] = static_cast<double>(state.range(0));
}

void BM_ForkCopyOnWrite(benchmark::State& state) { RunFork(state, 8, false); }
void BM_ForkFullCopy(benchmark::State& state) { RunFork(state, 0, false); }
void BM_ForkThenFirstSearch(benchmark::State& state) { RunFork(state, 8, true); }

void BM_ApplyOneAdd(benchmark::State& state) {
  Fixture fixture(0, 8);
  std::mt19937_64 engine(2);
  for (auto _ : state) {
    v1::ApplyRequest apply;
    apply.set_bank("src");
    v1::Operation* op = apply.add_ops();
    op->set_event(v1::ADD);
    op->set_text(Words(engine, 12));
    benchmark::DoNotOptimize(fixture.store->Apply("bench", apply));
  }
}

BENCHMARK(BM_ForkCopyOnWrite)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ForkFullCopy)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ForkThenFirstSearch)->Arg(100)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ApplyOneAdd)->Unit(benchmark::kMicrosecond);

}  // namespace
