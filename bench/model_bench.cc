// Throughput of the model engine on a ~25M-parameter Qwen2-shaped model, F32 and BF16, against
// the matrix-multiply peak measured in the same run:
//   - prefill tokens/s (one 512-token prompt through the KV cache),
//   - decode tokens/s at batch 1, 8 and 32 (64 steps after 64-token prompts),
//   - achieved FLOP/s as a fraction of the matmul peak of the same dtype,
//   - KV-cache speed-up over recomputation for the token at position 512,
//   - peak resident memory while loading a checkpoint, as a multiple of the model's size
//     (measured in a child process: this binary re-run with --load-rss).
//
//   build/bench/bench_model [--quick]

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/kv_cache.h"
#include "llm/model_init.h"

namespace {

using namespace memr1::llm;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// kB from /proc/self/status ("VmRSS", "VmHWM").
long ProcStatusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key) + 1);
  }
  return -1;
}

ModelConfig BenchConfig() {
  auto config = MakeModelConfig(Architecture::kQwen2,
                                R"({"vocab_size": 8192, "hidden_size": 512,
                                    "intermediate_size": 1408, "num_hidden_layers": 7,
                                    "num_attention_heads": 8, "num_key_value_heads": 4,
                                    "tie_word_embeddings": true,
                                    "max_position_embeddings": 4096})",
                                "bench config");
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    std::exit(1);
  }
  return *config;
}

double MatmulPeak(c10::ScalarType dtype, double min_seconds) {
  const int64_t n = 1024;
  at::Tensor a = at::randn({n, n}).to(dtype), b = at::randn({n, n}).to(dtype);
  at::Tensor c = at::empty({n, n}, dtype);
  at::mm_out(c, a, b);
  int64_t iters = 0;
  auto start = Clock::now();
  while (Seconds(start) < min_seconds) {
    at::mm_out(c, a, b);
    ++iters;
  }
  return 2.0 * n * n * n * iters / Seconds(start);
}

// Matmul FLOPs of one token through the decoder with `context` keys (linear layers + attention
// scores and values), plus the LM head when `logits`.
double TokenFlops(const ModelConfig& c, double context, bool logits) {
  const double q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const double linear = c.hidden_size * (q + 2 * kv) + q * c.hidden_size +
                        3.0 * c.hidden_size * c.intermediate_size;
  const double attention = 2.0 * q * context;
  double flops = 2.0 * c.num_hidden_layers * (linear + attention);
  if (logits) flops += 2.0 * c.hidden_size * c.vocab_size;
  return flops;
}

at::Tensor RandomIds(int64_t b, int64_t t, int64_t vocab) {
  return at::randint(vocab, {b, t}, at::kLong);
}

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench_model: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

int LoadRssChild(const std::string& dir, const std::string& dtype_name) {
  const long before = ProcStatusKb("VmRSS:");
  auto dtype = ParseDtype(dtype_name);
  Check(dtype.status());
  auto model = LoadCausalLM(dir, at::kCPU, *dtype);
  Check(model.status());
  const long peak = ProcStatusKb("VmHWM:");
  const double bytes = static_cast<double>((*model)->NumParameters()) *
                       (*dtype == at::kFloat ? 4 : 2);
  std::printf("%.3f %.1f\n", (peak - before) * 1024.0 / bytes, bytes / 1048576.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--load-rss") return LoadRssChild(argv[2], argv[3]);
  const bool quick = argc == 2 && std::string(argv[1]) == "--quick";
  at::manual_seed(0);
  at::NoGradGuard no_grad;
  const ModelConfig config = BenchConfig();
  std::printf("model: Qwen2-shaped, %.1fM parameters (vocab %ld, hidden %ld, %ld layers, GQA %ld/%ld)\n",
              config.NumParameters() / 1e6, static_cast<long>(config.vocab_size),
              static_cast<long>(config.hidden_size), static_cast<long>(config.num_hidden_layers),
              static_cast<long>(config.num_attention_heads),
              static_cast<long>(config.num_key_value_heads));
  std::printf("threads: %d\n\n", at::get_num_threads());
  const int64_t steps = quick ? 8 : 64;
  const int64_t prompt = quick ? 16 : 64;
  const double peak_seconds = quick ? 0.3 : 2.0;

  std::printf("| dtype | matmul peak GFLOP/s | measurement | tokens/s | GFLOP/s | fraction of peak |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (c10::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    const char* name = dtype == at::kFloat ? "float32" : "bfloat16";
    const double peak = MatmulPeak(dtype, peak_seconds);
    auto model = CausalLM::Create(config, at::kCPU, dtype);
    Check(model.status());
    InitOptions init;
    Check(InitializeRandom(model->get(), init));
    auto row = [&](const std::string& what, double tokens_per_s, double flops_per_s) {
      std::printf("| %s | %.1f | %s | %.0f | %.1f | %.2f |\n", name, peak / 1e9, what.c_str(),
                  tokens_per_s, flops_per_s / 1e9, flops_per_s / peak);
    };
    // Prefill: one 512-token prompt into the cache, logits of the last token.
    {
      const int64_t t = 512;
      auto cache = KvCache::Create(config, 1, t, at::kCPU, dtype);
      Check(cache.status());
      at::Tensor ids = RandomIds(1, t, config.vocab_size);
      double best = 1e30;
      for (int rep = 0; rep < (quick ? 1 : 3); ++rep) {
        (*cache)->ResetAll();
        DecoderInput input;
        input.input_ids = ids;
        input.cache = cache->get();
        auto start = Clock::now();
        auto hidden = (*model)->Hidden(input);
        Check(hidden.status());
        (*model)->LmHead(hidden->select(1, t - 1));
        best = std::min(best, Seconds(start));
      }
      double flops = 0;
      for (int64_t i = 0; i < t; ++i) flops += TokenFlops(config, i + 1, i == t - 1);
      row("prefill 512", t / best, flops / best);
    }
    // Decode at batch 1, 8, 32.
    for (int64_t batch : {1, 8, 32}) {
      auto cache = KvCache::Create(config, batch, prompt + steps, at::kCPU, dtype);
      Check(cache.status());
      DecoderInput input;
      input.input_ids = RandomIds(batch, prompt, config.vocab_size);
      input.cache = cache->get();
      auto hidden = (*model)->Hidden(input);
      Check(hidden.status());
      at::Tensor next = (*model)->LmHead(hidden->select(1, prompt - 1)).argmax(-1, true);
      auto start = Clock::now();
      for (int64_t s = 0; s < steps; ++s) {
        DecoderInput step;
        step.input_ids = next;
        step.cache = cache->get();
        auto h = (*model)->Hidden(step);
        Check(h.status());
        next = (*model)->LmHead(h->select(1, 0)).argmax(-1, true);
      }
      const double elapsed = Seconds(start);
      double flops = 0;
      for (int64_t s = 0; s < steps; ++s) flops += batch * TokenFlops(config, prompt + s + 1, true);
      row("decode batch " + std::to_string(batch), batch * steps / elapsed, flops / elapsed);
    }
    // KV cache vs recomputation for the token at position 512.
    {
      const int64_t t = 512, reps = quick ? 2 : 8;
      at::Tensor ids = RandomIds(1, t, config.vocab_size);
      auto cache = KvCache::Create(config, 1, t, at::kCPU, dtype);
      Check(cache.status());
      auto start = Clock::now();
      for (int64_t r = 0; r < reps; ++r) {
        DecoderInput full;
        full.input_ids = ids;
        auto h = (*model)->Hidden(full);
        Check(h.status());
        (*model)->LmHead(h->select(1, t - 1));
      }
      const double recompute = Seconds(start) / reps;
      DecoderInput prefix;
      prefix.input_ids = ids.narrow(1, 0, t - 1);
      prefix.cache = cache->get();
      Check((*model)->Hidden(prefix).status());
      start = Clock::now();
      for (int64_t r = 0; r < reps; ++r) {
        (*cache)->set_length(0, t - 1);
        DecoderInput step;
        step.input_ids = ids.narrow(1, t - 1, 1);
        step.cache = cache->get();
        auto h = (*model)->Hidden(step);
        Check(h.status());
        (*model)->LmHead(h->select(1, 0));
      }
      const double cached = Seconds(start) / reps;
      std::printf("| %s | | KV cache speed-up at 512 tokens | %.1fx (%.2f ms vs %.1f ms recompute) | | |\n",
                  name, recompute / cached, cached * 1e3, recompute * 1e3);
    }
  }
  // Peak RSS while loading (child processes), F32 file -> F32 and BF16 file -> BF16.
  const std::string dir = (std::filesystem::temp_directory_path() / "memr1_bench_model").string();
  std::printf("\n| checkpoint on disk -> compute dtype | model MiB | peak RSS growth while loading / model size |\n|---|---|---|\n");
  for (c10::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    auto model = CausalLM::Create(config, at::kCPU, at::kFloat);
    Check(model.status());
    Check(InitializeRandom(model->get(), InitOptions{}));
    SaveOptions save;
    save.dtype = dtype;
    Check(SaveCausalLM(**model, dir, save));
    model->reset();
    const char* name = dtype == at::kFloat ? "float32" : "bfloat16";
    const std::string command = std::string("\"") + argv[0] + "\" --load-rss " + dir + " " + name;
    FILE* pipe = popen(command.c_str(), "r");
    double ratio = 0, mib = 0;
    if (pipe == nullptr || std::fscanf(pipe, "%lf %lf", &ratio, &mib) != 2) {
      std::fprintf(stderr, "bench_model: load child failed\n");
      return 1;
    }
    pclose(pipe);
    std::printf("| %s -> %s | %.1f | %.2fx |\n", name, name, mib, ratio);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
