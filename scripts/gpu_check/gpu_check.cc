// memr1's decoder and engine on CUDA with LibTorch 2.x (the scaled_dot_product_attention path):
// against the CPU float32 reference of the same build, on the same checkpoints.
#include <ATen/ATen.h>
#include <torch/version.h>

#include <cstdio>
#include <string>
#include <vector>

#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/engine.h"
#include "llm/kv_cache.h"

using namespace memr1::llm;

#define CHECK_OK(x) do { const auto& s_ = (x); if (!s_.ok()) { std::printf("FAIL %s: %s\n", #x, std::string(s_.status().message()).c_str()); return 1; } } while (0)

int main(int argc, char** argv) {
  std::printf("torch %s, cuda %d\n", TORCH_VERSION, (int)at::hasCUDA());
  int failures = 0;
  for (int m = 1; m < argc; ++m) {
    const std::string dir = argv[m];
    auto cpu = LoadCausalLM(dir, c10::Device("cpu"), at::kFloat);
    auto gpu = LoadCausalLM(dir, c10::Device("cuda"), at::kFloat);
    auto gbf = LoadCausalLM(dir, c10::Device("cuda"), at::kBFloat16);
    if (!cpu.ok() || !gpu.ok() || !gbf.ok()) { std::printf("%s: load failed\n", dir.c_str()); return 1; }
    at::manual_seed(1);
    const int64_t V = (*cpu)->config().vocab_size;
    at::Tensor ids = at::randint(0, V, {3, 700}, at::kLong);
    at::Tensor mask = at::ones({3, 700}, at::kBool);
    mask[1].narrow(0, 500, 200).fill_(false);  // a right-padded row
    DecoderInput in; in.input_ids = ids; in.attention_mask = mask;
    auto ref = (*cpu)->Logits(in);
    DecoderInput gin; gin.input_ids = ids.cuda(); gin.attention_mask = mask.cuda();
    auto lg = (*gpu)->Logits(gin);
    auto lb = (*gbf)->Logits(gin);
    if (!ref.ok() || !lg.ok() || !lb.ok()) { std::printf("%s: logits failed %s %s %s\n", dir.c_str(), std::string(ref.status().message()).c_str(), std::string(lg.status().message()).c_str(), std::string(lb.status().message()).c_str()); return 1; }
    at::Tensor real = mask.unsqueeze(-1).expand_as(*ref);
    const double d32 = ((*lg).cpu() - *ref).abs().masked_select(real).max().item<double>();
    const double d16 = ((*lb).to(at::kFloat).cpu() - *ref).abs().masked_select(real).max().item<double>();
    const double scale = ref->abs().max().item<double>();
    // KV-cache decode on CUDA equals full recomputation on CUDA.
    auto cache = KvCache::Create((*gpu)->config(), 1, 720, c10::Device("cuda"), at::kFloat);
    CHECK_OK(cache);
    DecoderInput pre; pre.input_ids = ids[0].narrow(0, 0, 600).unsqueeze(0).cuda(); pre.cache = cache->get();
    CHECK_OK((*gpu)->Logits(pre));
    double dkv = 0;
    for (int t = 600; t < 700; ++t) {
      DecoderInput step; step.input_ids = ids[0].narrow(0, t, 1).unsqueeze(0).cuda(); step.cache = cache->get();
      auto l = (*gpu)->Logits(step);
      CHECK_OK(l);
      dkv = std::max(dkv, ((*l)[0][0] - (*lg)[0][t]).abs().max().item<double>());
    }
    // Greedy engine on CUDA vs CPU.
    EngineOptions eo; eo.max_batch_size = 4; eo.max_seq_len = 800;
    auto ecpu = Engine::Create(cpu->get(), eo);
    auto egpu = Engine::Create(gpu->get(), eo);
    CHECK_OK(ecpu); CHECK_OK(egpu);
    std::vector<GenerationRequest> reqs;
    for (int r = 0; r < 4; ++r) {
      GenerationRequest q; auto row = ids[r % 3].narrow(0, 0, 100 + 50 * r);
      q.prompt.assign(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel());
      q.params.greedy = true; q.params.max_new_tokens = 24; reqs.push_back(q);
    }
    auto oc = (*ecpu)->Generate(reqs);
    auto og = (*egpu)->Generate(reqs);
    CHECK_OK(oc); CHECK_OK(og);
    int same = 0;
    for (int r = 0; r < 4; ++r) same += ((*oc)[r].ids == (*og)[r].ids);
    std::printf("%s: |cuda f32 - cpu f32| = %.3g, |cuda bf16 - cpu f32| = %.3g (logit scale %.3g), "
                "kv decode vs recompute on cuda %.3g, greedy outputs equal %d/4\n",
                dir.c_str(), d32, d16, scale, dkv, same);
    if (d32 > 1e-3 * std::max(1.0, scale) || dkv > 1e-3 * std::max(1.0, scale)) ++failures;
  }
  std::printf(failures ? "FAILED\n" : "OK\n");
  return failures;
}
