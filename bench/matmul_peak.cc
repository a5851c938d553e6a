// The matrix-multiply peak of this machine in F32 and BF16 through LibTorch: the limit against
// which the model and learner benchmarks report achieved FLOP/s as a fraction.
//
//   build/bench/bench_matmul_peak --benchmark_counters_tabular=true

#include <benchmark/benchmark.h>
#include <torch/torch.h>

namespace {

void BM_Matmul(benchmark::State& state, torch::Dtype dtype) {
  const int64_t n = state.range(0);
  torch::NoGradGuard no_grad;
  const auto a = torch::randn({n, n}).to(dtype);
  const auto b = torch::randn({n, n}).to(dtype);
  auto c = torch::empty({n, n}, dtype);
  for (auto _ : state) {
    torch::mm_out(c, a, b);
    benchmark::DoNotOptimize(c.data_ptr());
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * n * n * n * state.iterations(),
                                                benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Matmul, f32, torch::kFloat32)->Arg(256)->Arg(512)->Arg(1024)->UseRealTime();
BENCHMARK_CAPTURE(BM_Matmul, bf16, torch::kBFloat16)->Arg(256)->Arg(512)->Arg(1024)->UseRealTime();

}  // namespace
