// Decoder numerics by equivalence: KV-cache decoding == full recomputation, a padded batch ==
// each row alone, BF16 ~ F32, activation checkpointing == plain backward, and logits + greedy
// outputs == an independent NumPy implementation of the Hugging Face forward.

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/engine.h"
#include "llm/kv_cache.h"
#include "llm/scoring.h"
#include "tests/llm/model_testing.h"

namespace memr1::llm {
namespace {

using ::memr1::llm::testing::ArchName;
using ::memr1::llm::testing::Ids;
using ::memr1::llm::testing::ReadFile;
using ::memr1::llm::testing::TempDir;
using ::memr1::llm::testing::TinyModel;

class DecoderTest : public ::testing::TestWithParam<Architecture> {};

INSTANTIATE_TEST_SUITE_P(Families, DecoderTest,
                         ::testing::Values(Architecture::kQwen2, Architecture::kQwen3,
                                           Architecture::kLlama),
                         [](const auto& info) { return std::string(ArchName(info.param)); });

const std::vector<int64_t> kPrompt = {5, 17, 3, 88, 42, 9, 60, 1, 33, 71, 2, 45, 19, 27, 80, 11,
                                      6, 50, 23, 94};

at::Tensor FullLogits(CausalLM& model, const std::vector<int64_t>& ids) {
  DecoderInput input;
  input.input_ids = Ids(ids);
  auto logits = model.Logits(input);
  EXPECT_TRUE(logits.ok()) << logits.status();
  return logits->squeeze(0);
}

TEST_P(DecoderTest, KvCacheDecodingEqualsFullRecomputation) {
  auto model = TinyModel(GetParam());
  at::NoGradGuard no_grad;
  const at::Tensor full = FullLogits(*model, kPrompt);  // [T, V]
  auto cache = KvCache::Create(model->config(), 2, 32, at::kCPU, at::kFloat);
  ASSERT_TRUE(cache.ok());
  // Prefill 8 tokens into slot 1, then one token at a time (positions past the Llama-3.1
  // original context of 16 are included, so the scaled RoPE bands are all exercised).
  DecoderInput prefill;
  prefill.input_ids = Ids({kPrompt.begin(), kPrompt.begin() + 8});
  prefill.cache = cache->get();
  prefill.cache_slots = at::tensor(std::vector<int64_t>{1}, at::kLong);
  auto first = model->Logits(prefill);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(at::allclose(first->squeeze(0), full.narrow(0, 0, 8), 1e-4, 1e-5));
  for (size_t t = 8; t < kPrompt.size(); ++t) {
    DecoderInput step;
    step.input_ids = Ids({kPrompt[t]});
    step.cache = cache->get();
    step.cache_slots = prefill.cache_slots;
    auto logits = model->Logits(step);
    ASSERT_TRUE(logits.ok()) << logits.status();
    EXPECT_TRUE(at::allclose(logits->squeeze(0).squeeze(0), full[t], 1e-4, 1e-5)) << "t=" << t;
  }
  EXPECT_EQ((*cache)->length(1), static_cast<int64_t>(kPrompt.size()));
  EXPECT_EQ((*cache)->length(0), 0);
  // Overflow is refused and appends nothing.
  DecoderInput too_long;
  too_long.input_ids = Ids(std::vector<int64_t>(13, 4));
  too_long.cache = cache->get();
  too_long.cache_slots = prefill.cache_slots;
  auto overflow = model->Logits(too_long);
  ASSERT_FALSE(overflow.ok());
  EXPECT_THAT(std::string(overflow.status().message()), ::testing::HasSubstr("capacity"));
  EXPECT_EQ((*cache)->length(1), static_cast<int64_t>(kPrompt.size()));
}

// Long sequences run attention in chunks of query positions (decoder.cc, AttentionCore); the
// chunk size depends on the key length, so a full pass over 1,200 tokens, a cached prefill of
// 1,100 and single-token decode steps (never chunked) cut the work differently and must agree.
TEST_P(DecoderTest, ChunkedAttentionOfLongSequencesEqualsStepwiseDecoding) {
  auto model = TinyModel(GetParam());
  at::NoGradGuard no_grad;
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 1200; ++i) ids.push_back(1 + (i * 37) % 90);
  const at::Tensor full = FullLogits(*model, ids);
  auto cache = KvCache::Create(model->config(), 1, 1200, at::kCPU, at::kFloat);
  ASSERT_TRUE(cache.ok());
  DecoderInput prefill;
  prefill.input_ids = Ids({ids.begin(), ids.begin() + 1100});
  prefill.cache = cache->get();
  auto first = model->Logits(prefill);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(at::allclose(first->squeeze(0), full.narrow(0, 0, 1100), 1e-4, 1e-5));
  for (size_t t = 1100; t < ids.size(); t += 1) {
    DecoderInput step;
    step.input_ids = Ids({ids[t]});
    step.cache = cache->get();
    auto logits = model->Logits(step);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_TRUE(at::allclose(logits->squeeze(0).squeeze(0), full[t], 1e-4, 1e-5)) << "t=" << t;
  }
}

TEST_P(DecoderTest, PaddedBatchEqualsEachRowAlone) {
  auto model = TinyModel(GetParam());
  at::NoGradGuard no_grad;
  const std::vector<std::vector<int64_t>> rows = {
      {5, 17, 3, 88, 42, 9}, {60, 1}, {33, 71, 2, 45, 19, 27, 80, 11, 6}};
  const int64_t t = 9;
  for (bool left : {false, true}) {
    at::Tensor ids = at::zeros({3, t}, at::kLong);
    at::Tensor mask = at::zeros({3, t}, at::kLong);
    for (int64_t r = 0; r < 3; ++r) {
      const int64_t n = rows[r].size(), offset = left ? t - n : 0;
      for (int64_t i = 0; i < n; ++i) {
        ids[r][offset + i] = rows[r][i];
        mask[r][offset + i] = 1;
      }
    }
    DecoderInput input;
    input.input_ids = ids;
    input.attention_mask = mask;
    auto logits = model->Logits(input);
    ASSERT_TRUE(logits.ok()) << logits.status();
    for (int64_t r = 0; r < 3; ++r) {
      const int64_t n = rows[r].size(), offset = left ? t - n : 0;
      const at::Tensor alone = FullLogits(*model, rows[r]);
      EXPECT_TRUE(at::allclose((*logits)[r].narrow(0, offset, n), alone, 1e-4, 1e-5))
          << (left ? "left" : "right") << " padding, row " << r;
    }
  }
  // The same rows decoded together through the cache (continuous-batching layout: different
  // lengths, non-contiguous slots) equal each row alone.
  auto cache = KvCache::Create(model->config(), 4, 16, at::kCPU, at::kFloat);
  ASSERT_TRUE(cache.ok());
  at::Tensor ids = at::zeros({3, t}, at::kLong);
  at::Tensor mask = at::zeros({3, t}, at::kBool);
  for (int64_t r = 0; r < 3; ++r) {
    for (size_t i = 0; i < rows[r].size(); ++i) {
      ids[r][i] = rows[r][i];
      mask[r][i] = true;
    }
  }
  DecoderInput input;
  input.input_ids = ids;
  input.attention_mask = mask;
  input.cache = cache->get();
  input.cache_slots = at::tensor(std::vector<int64_t>{3, 0, 2}, at::kLong);
  auto prefill = model->Logits(input);
  ASSERT_TRUE(prefill.ok()) << prefill.status();
  DecoderInput step;
  step.input_ids = at::tensor(std::vector<int64_t>{7, 8, 9}, at::kLong).unsqueeze(1);
  step.cache = cache->get();
  step.cache_slots = input.cache_slots;
  auto next = model->Logits(step);
  ASSERT_TRUE(next.ok()) << next.status();
  for (int64_t r = 0; r < 3; ++r) {
    std::vector<int64_t> extended = rows[r];
    extended.push_back(7 + r);
    const at::Tensor alone = FullLogits(*model, extended);
    EXPECT_TRUE(at::allclose((*next)[r][0], alone[-1], 1e-4, 1e-5)) << "row " << r;
  }
}

TEST_P(DecoderTest, Bf16IsWithinToleranceOfF32) {
  TempDir dir;
  auto model = TinyModel(GetParam());
  ASSERT_TRUE(SaveCausalLM(*model, dir.path()).ok());
  auto bf16 = LoadCausalLM(dir.path(), at::kCPU, at::kBFloat16);
  ASSERT_TRUE(bf16.ok()) << bf16.status();
  at::NoGradGuard no_grad;
  const at::Tensor f32 = at::log_softmax(FullLogits(*model, kPrompt), -1);
  const at::Tensor low = at::log_softmax(FullLogits(**bf16, kPrompt).to(at::kFloat), -1);
  // BF16 keeps 8 significant bits (relative rounding 2^-9 ~ 0.2%) and every weight, activation
  // and product is rounded: allow 0.1 nats absolute on log-probs of order 1-10, and require the
  // same most likely token where F32 is confident (margin > 0.2 nats).
  const double max_diff = (f32 - low).abs().max().item<double>();
  EXPECT_LT(max_diff, 0.15) << "max |logprob F32 - logprob BF16|";
  auto top2 = f32.topk(2, -1);
  const at::Tensor margin = std::get<0>(top2).select(1, 0) - std::get<0>(top2).select(1, 1);
  const at::Tensor confident = margin > 0.2;
  const at::Tensor same = f32.argmax(-1) == low.argmax(-1);
  EXPECT_TRUE(same.logical_or(confident.logical_not()).all().item<bool>());
}

TEST_P(DecoderTest, ActivationCheckpointingGivesTheSameGradients) {
  auto model = TinyModel(GetParam());
  at::Tensor ids = at::tensor(std::vector<int64_t>{5, 17, 3, 88, 42, 9, 60, 1, 0, 0}, at::kLong)
                       .view({2, 5});
  at::Tensor mask = at::ones({2, 5}, at::kLong);
  mask[1][3] = 0;
  mask[1][4] = 0;
  at::Tensor targets = ids.roll(-1, 1);
  std::vector<at::Tensor> grads[2];
  for (bool checkpoint : {false, true}) {
    model->module().zero_grad();
    model->set_activation_checkpointing(checkpoint);
    DecoderInput input;
    input.input_ids = ids;
    input.attention_mask = mask;
    auto scores = ScoreBatch(*model, input, targets, /*with_entropy=*/true);
    ASSERT_TRUE(scores.ok()) << scores.status();
    ASSERT_TRUE(scores->logprobs.requires_grad());
    (scores->logprobs.sum() + 0.1 * scores->entropies.sum()).backward();
    for (const auto& [name, param] : model->NamedParameters()) {
      ASSERT_TRUE(param.grad().defined()) << name;
      grads[checkpoint].push_back(param.grad().clone());
    }
  }
  ASSERT_EQ(grads[0].size(), grads[1].size());
  for (size_t i = 0; i < grads[0].size(); ++i) {
    EXPECT_GT(grads[0][i].abs().sum().item<double>(), 0.0) << i;
    EXPECT_TRUE(at::allclose(grads[0][i], grads[1][i], 1e-5, 1e-7)) << i;
  }
  // Frozen embeddings: the layers still get gradients through the checkpointed path.
  model->module().zero_grad();
  auto params = model->NamedParameters();
  params[0].second.requires_grad_(false);
  DecoderInput input;
  input.input_ids = ids;
  auto logits = model->Logits(input);
  ASSERT_TRUE(logits.ok());
  logits->sum().backward();
  ASSERT_TRUE(params[1].second.grad().defined());
  EXPECT_GT(params[1].second.grad().abs().sum().item<double>(), 0.0);
}

TEST_P(DecoderTest, MatchesIndependentNumpyReference) {
  TempDir dir;
  auto model = TinyModel(GetParam(), /*seed=*/7);
  ASSERT_TRUE(SaveCausalLM(*model, dir.path()).ok());
  const std::vector<int64_t> prompt(kPrompt.begin(), kPrompt.begin() + 12);
  const int greedy = 10;
  const std::string out = dir.Sub("reference.json");
  const std::string command = "/usr/bin/python3 " MEMR1_SOURCE_DIR
                              "/tests/llm/tools/model_reference.py --model " + dir.path() +
                              " --ids " + absl::StrJoin(prompt, ",") + " --greedy " +
                              std::to_string(greedy) + " --out " + out + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0)
      << command << "\n(needs Debian's python3-numpy: scripts/install-deps.sh)";
  const nlohmann::json reference = nlohmann::json::parse(ReadFile(out));
  const auto ref_logits_vec = reference["logits"].get<std::vector<std::vector<double>>>();
  at::Tensor ref_logits = at::empty({static_cast<int64_t>(ref_logits_vec.size()),
                                     model->config().vocab_size}, at::kDouble);
  for (size_t i = 0; i < ref_logits_vec.size(); ++i) {
    ref_logits[i] = at::tensor(ref_logits_vec[i], at::kDouble);
  }
  // Reload what we saved (the reference read the same files) and compare logits.
  auto loaded = LoadCausalLM(dir.path(), at::kCPU, at::kFloat);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  at::NoGradGuard no_grad;
  const at::Tensor ours = FullLogits(**loaded, prompt).to(at::kDouble);
  const double max_diff = (ours - ref_logits).abs().max().item<double>();
  EXPECT_LT(max_diff, 2e-4) << "max |logit - reference|, logits of scale "
                            << ref_logits.abs().max().item<double>();
  // Greedy outputs through the engine (KV cache) equal the reference's (full recomputation).
  auto engine = Engine::Create(loaded->get(), EngineOptions{});
  ASSERT_TRUE(engine.ok());
  GenerationRequest request;
  request.prompt = prompt;
  request.params.greedy = true;
  request.params.max_new_tokens = greedy;
  auto results = (*engine)->Generate({request});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].ids, reference["greedy"].get<std::vector<int64_t>>());
}

TEST(DecoderInputTest, BadInputsAreInvalidArgument) {
  auto model = TinyModel(Architecture::kQwen2);
  DecoderInput input;
  input.input_ids = Ids({1, 2, 96});
  auto out = model->Logits(input);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(out.status().message()), ::testing::HasSubstr("96"));
  input.input_ids = at::ones({3}, at::kLong);
  EXPECT_FALSE(model->Logits(input).ok());
  input.input_ids = Ids({1, 2});
  input.attention_mask = at::ones({1, 3});
  EXPECT_FALSE(model->Logits(input).ok());
  auto cache = KvCache::Create(model->config(), 1, 8, at::kCPU, at::kFloat);
  input.attention_mask = at::tensor(std::vector<int64_t>{0, 1}).unsqueeze(0);
  input.cache = cache->get();
  auto left_padded = model->Logits(input);
  ASSERT_FALSE(left_padded.ok());
  EXPECT_THAT(std::string(left_padded.status().message()), ::testing::HasSubstr("padding"));
}

}  // namespace
}  // namespace memr1::llm
