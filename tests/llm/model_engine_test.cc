// The rollout engine and the sampler, scoring, embeddings and value head.

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "absl/strings/str_cat.h"
#include "llm/embedding.h"
#include "llm/engine.h"
#include "llm/sampler.h"
#include "llm/scoring.h"
#include "llm/value_head.h"
#include "tests/llm/model_testing.h"

namespace memr1::llm {
namespace {

using ::memr1::llm::testing::TempDir;
using ::memr1::llm::testing::TinyModel;
using ::testing::HasSubstr;

std::vector<GenerationRequest> MixedRequests() {
  std::vector<GenerationRequest> requests;
  const std::vector<std::vector<int64_t>> prompts = {
      {5, 17, 3}, {88, 42, 9, 60, 1, 33, 71}, {2}, {45, 19, 27, 80}, {11, 6, 50, 23, 94, 7}};
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerationRequest r;
    r.prompt = prompts[i];
    r.params.max_new_tokens = 3 + 4 * static_cast<int64_t>(i % 3);
    r.params.greedy = i % 2 == 0;
    r.params.temperature = 0.8;
    r.params.top_p = 0.9;
    r.params.top_k = 20;
    r.params.seed = 100 + i;
    requests.push_back(r);
  }
  return requests;
}

std::vector<GenerationResult> GenerateAll(CausalLM* model, const std::vector<GenerationRequest>& requests,
                                          int64_t max_batch, EngineStats* stats = nullptr) {
  EngineOptions options;
  options.max_batch_size = max_batch;
  options.max_seq_len = 64;
  auto engine = Engine::Create(model, options);
  EXPECT_TRUE(engine.ok());
  auto results = (*engine)->Generate(requests);
  EXPECT_TRUE(results.ok()) << results.status();
  if (stats != nullptr) *stats = (*engine)->stats();
  return results.ok() ? *results : std::vector<GenerationResult>{};
}

TEST(EngineTest, ContinuousBatchingGivesEachRequestItsOwnResult) {
  auto model = TinyModel(Architecture::kQwen2);
  const auto requests = MixedRequests();
  EngineStats stats;
  const auto batched = GenerateAll(model.get(), requests, /*max_batch=*/2, &stats);
  ASSERT_EQ(batched.size(), requests.size());
  EXPECT_EQ(stats.max_active_rows, 2);
  int64_t sequential_passes = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    EngineStats alone_stats;
    const auto alone = GenerateAll(model.get(), {requests[i]}, 1, &alone_stats);
    sequential_passes += alone_stats.forward_passes;
    EXPECT_EQ(batched[i].ids, alone[0].ids) << "request " << i;
    ASSERT_EQ(batched[i].logprobs.size(), alone[0].logprobs.size());
    for (size_t t = 0; t < alone[0].logprobs.size(); ++t) {
      EXPECT_NEAR(batched[i].logprobs[t], alone[0].logprobs[t], 1e-4);
    }
    EXPECT_EQ(static_cast<int64_t>(batched[i].ids.size()), requests[i].params.max_new_tokens);
    EXPECT_EQ(batched[i].finish_reason, FinishReason::kLength);
  }
  EXPECT_LT(stats.forward_passes, sequential_passes);
  // Wider batches give the same answers too.
  const auto wide = GenerateAll(model.get(), requests, 8);
  for (size_t i = 0; i < requests.size(); ++i) EXPECT_EQ(wide[i].ids, batched[i].ids);
}

TEST(EngineTest, SeededSamplingIsReproducible) {
  auto model = TinyModel(Architecture::kLlama);
  GenerationRequest r;
  r.prompt = {3, 4, 5};
  r.params.max_new_tokens = 24;
  r.params.temperature = 1.5;
  r.params.seed = 42;
  const auto a = GenerateAll(model.get(), {r, r}, 4);
  const auto b = GenerateAll(model.get(), {r}, 1);
  EXPECT_EQ(a[0].ids, b[0].ids);
  EXPECT_EQ(a[1].ids, b[0].ids);
  r.params.seed = 43;
  const auto c = GenerateAll(model.get(), {r}, 1);
  EXPECT_NE(c[0].ids, b[0].ids);
}

TEST(SamplerTest, TopKAndTopPNeverEmitExcludedTokens) {
  // Probabilities 0.4, 0.3, 0.2, 0.06, 0.04 over tokens 4, 1, 3, 0, 2.
  const std::vector<double> probs = {0.06, 0.3, 0.04, 0.2, 0.4};
  at::Tensor logits = at::log(at::tensor(probs, at::kDouble)).to(at::kFloat).unsqueeze(0);
  struct Case {
    int64_t top_k;
    double top_p;
    std::set<int64_t> allowed;
  };
  // top_p 0.5: 0.4 < 0.5 so token 1 is still needed; 0.7 >= 0.5 stops there.
  const std::vector<Case> cases = {{1, 1.0, {4}}, {3, 1.0, {4, 1, 3}}, {0, 0.5, {4, 1}},
                                   {0, 0.4, {4}}, {2, 0.95, {4, 1}}, {0, 0.75, {4, 1, 3}}};
  for (const Case& c : cases) {
    SamplingParams params;
    params.top_k = c.top_k;
    params.top_p = c.top_p;
    std::set<int64_t> seen;
    double allowed_mass = 0;
    for (int64_t id : c.allowed) allowed_mass += probs[id];
    for (uint64_t seed = 0; seed < 400; ++seed) {
      SamplerRng rng(seed);
      auto tokens = SampleTokens(logits, {&params}, {&rng});
      ASSERT_TRUE(tokens.ok());
      const SampledToken& token = (*tokens)[0];
      ASSERT_TRUE(c.allowed.count(token.id)) << "top_k " << c.top_k << " top_p " << c.top_p
                                             << " emitted " << token.id;
      EXPECT_NEAR(token.logprob, std::log(probs[token.id] / allowed_mass), 1e-5);
      seen.insert(token.id);
    }
    EXPECT_EQ(seen, c.allowed) << "every allowed token is reachable";
  }
  // Temperature: the reported log-prob is under the tempered distribution.
  SamplingParams hot;
  hot.temperature = 2.0;
  SamplerRng rng(1);
  auto tokens = SampleTokens(logits, {&hot}, {&rng});
  ASSERT_TRUE(tokens.ok());
  const at::Tensor tempered = at::log_softmax(logits / 2.0, -1);
  EXPECT_NEAR((*tokens)[0].logprob, tempered[0][(*tokens)[0].id].item<float>(), 1e-5);
  // Greedy: argmax, with the model's log-prob.
  SamplingParams greedy;
  greedy.greedy = true;
  auto g = SampleTokens(logits, {&greedy}, {nullptr});
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)[0].id, 4);
  EXPECT_NEAR((*g)[0].logprob, std::log(0.4), 1e-5);
}

TEST(SamplerTest, InvalidParamsAreRejected) {
  SamplingParams p;
  p.temperature = 0;
  EXPECT_THAT(std::string(p.Validate().message()), HasSubstr("temperature"));
  p = SamplingParams();
  p.top_p = 1.5;
  EXPECT_THAT(std::string(p.Validate().message()), HasSubstr("top_p"));
  p = SamplingParams();
  p.top_k = -1;
  EXPECT_FALSE(p.Validate().ok());
}

TEST(EngineTest, StopTokensAndStopStringsEndGeneration) {
  auto model = TinyModel(Architecture::kQwen3);
  GenerationRequest r;
  r.prompt = {10, 20, 30};
  r.params.greedy = true;
  r.params.max_new_tokens = 12;
  const auto free_run = GenerateAll(model.get(), {r}, 1)[0].ids;
  ASSERT_EQ(free_run.size(), 12u);
  // Stop at the first occurrence of the third generated token.
  const int64_t stop = free_run[2];
  size_t first = 0;
  while (free_run[first] != stop) ++first;
  r.params.stop_token_ids = {stop};
  const auto stopped = GenerateAll(model.get(), {r}, 1)[0];
  EXPECT_EQ(stopped.finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped.ids, std::vector<int64_t>(free_run.begin(), free_run.begin() + first + 1));

  // Stop strings: a decode callback renders ids as "<id>".
  DecodeFn decode = [](const std::vector<int64_t>& ids) -> absl::StatusOr<std::string> {
    std::string text;
    for (int64_t id : ids) absl::StrAppend(&text, "<", id, ">");
    return text;
  };
  r.params.stop_token_ids.clear();
  const std::string stop_string = absl::StrCat("<", free_run[3], "><", free_run[4], ">");
  r.params.stop_strings = std::vector<std::string>{stop_string};
  auto engine = Engine::Create(model.get(), EngineOptions{}, decode);
  ASSERT_TRUE(engine.ok());
  auto results = (*engine)->Generate({r});
  ASSERT_TRUE(results.ok()) << results.status();
  EXPECT_EQ((*results)[0].finish_reason, FinishReason::kStop);
  EXPECT_LE((*results)[0].ids.size(), 5u);
  // Without a decode callback, stop strings are an error before anything runs.
  auto no_decode = Engine::Create(model.get(), EngineOptions{});
  auto error = (*no_decode)->Generate({r});
  ASSERT_FALSE(error.ok());
  EXPECT_THAT(std::string(error.status().message()), HasSubstr("request 0"));
}

TEST(EngineTest, RejectsBadRequestsBeforeGenerating) {
  auto model = TinyModel(Architecture::kQwen2);
  EngineOptions options;
  options.max_seq_len = 16;
  auto engine = Engine::Create(model.get(), options);
  ASSERT_TRUE(engine.ok());
  GenerationRequest ok;
  ok.prompt = {1, 2, 3};
  ok.params.max_new_tokens = 4;
  GenerationRequest long_request = ok;
  long_request.params.max_new_tokens = 15;
  auto result = (*engine)->Generate({ok, long_request});
  ASSERT_FALSE(result.ok());
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("request 1"));
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("max_seq_len"));
  GenerationRequest empty;
  EXPECT_FALSE((*engine)->Generate({empty}).ok());
  GenerationRequest zero = ok;
  zero.params.max_new_tokens = 0;
  auto none = (*engine)->Generate({zero});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE((*none)[0].ids.empty());
  EXPECT_EQ((*none)[0].finish_reason, FinishReason::kLength);
}

TEST(ScoringTest, GeneratedLogprobsEqualScoringLogprobs) {
  auto model = TinyModel(Architecture::kLlama);
  GenerationRequest greedy;
  greedy.prompt = {7, 8, 9, 10};
  greedy.params.greedy = true;
  greedy.params.max_new_tokens = 8;
  GenerationRequest sampled = greedy;
  sampled.params.greedy = false;  // temperature 1, no truncation: the model's distribution
  sampled.params.seed = 5;
  const auto results = GenerateAll(model.get(), {greedy, sampled}, 2);
  std::vector<std::vector<int64_t>> sequences;
  for (const auto& r : results) {
    std::vector<int64_t> seq = greedy.prompt;
    seq.insert(seq.end(), r.ids.begin(), r.ids.end());
    sequences.push_back(seq);
  }
  sequences.push_back({42});  // a lone token has no log-probs
  ScoreOptions options;
  options.batch_size = 2;
  options.with_entropy = true;
  auto scores = ScoreSequences(*model, sequences, options);
  ASSERT_TRUE(scores.ok()) << scores.status();
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& lp = (*scores)[i].logprobs;
    ASSERT_EQ(lp.size(), sequences[i].size() - 1);
    for (size_t t = 0; t < results[i].ids.size(); ++t) {
      EXPECT_NEAR(lp[greedy.prompt.size() - 1 + t], results[i].logprobs[t], 1e-4);
    }
    for (float e : (*scores)[i].entropies) {
      EXPECT_GE(e, 0.0f);
      EXPECT_LE(e, std::log(96.0f) + 1e-4f);
    }
  }
  EXPECT_TRUE((*scores)[2].logprobs.empty());
  // Scoring one sequence alone gives the same numbers as in a batch.
  auto alone = ScoreSequences(*model, {sequences[1]});
  ASSERT_TRUE(alone.ok());
  for (size_t t = 0; t < (*alone)[0].logprobs.size(); ++t) {
    EXPECT_NEAR((*alone)[0].logprobs[t], (*scores)[1].logprobs[t], 1e-5);
  }
  EXPECT_FALSE(ScoreSequences(*model, {{1, 2, 500}}).ok());
}

TEST(EmbeddingTest, LastTokenPoolingIsNormalisedAndBatchInvariant) {
  auto model = TinyModel(Architecture::kQwen3);
  const std::vector<std::vector<int64_t>> sequences = {{1, 2, 3, 4, 5}, {9}, {30, 31, 32}};
  auto batched = EmbedSequences(*model, sequences, 3);
  ASSERT_TRUE(batched.ok()) << batched.status();
  ASSERT_EQ(batched->sizes(), (std::vector<int64_t>{3, model->config().hidden_size}));
  EXPECT_TRUE(at::allclose(batched->norm(2, {1}), at::ones({3}), 1e-5, 1e-6));
  for (size_t i = 0; i < sequences.size(); ++i) {
    auto alone = EmbedSequences(*model, {sequences[i]}, 1);
    ASSERT_TRUE(alone.ok());
    EXPECT_TRUE(at::allclose((*alone)[0], (*batched)[i], 1e-5, 1e-6)) << i;
  }
  // The pooled state is the final hidden state of the last token, whatever the padding side.
  DecoderInput input;
  input.input_ids = at::tensor(sequences[2], at::kLong).unsqueeze(0);
  auto hidden = model->Hidden(input);
  ASSERT_TRUE(hidden.ok());
  at::Tensor last = (*hidden)[0][-1];
  EXPECT_TRUE(at::allclose((*batched)[2], last / last.norm(), 1e-5, 1e-6));
  at::Tensor left = at::zeros({1, 5, model->config().hidden_size});
  left[0][4] = last;
  at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1}).unsqueeze(0);
  EXPECT_TRUE(at::allclose(LastTokenPool(left, mask)[0], last / last.norm(), 1e-5, 1e-6));
}

TEST(ValueHeadTest, SaveLoadRoundTripAndForward) {
  TempDir dir;
  auto head = ValueHead::Create(32, at::kCPU, at::kFloat, /*seed=*/3);
  ASSERT_TRUE(head.ok());
  at::Tensor hidden = at::randn({2, 5, 32});
  at::Tensor values = (*head)->Forward(hidden);
  EXPECT_EQ(values.sizes(), (std::vector<int64_t>{2, 5}));
  ASSERT_TRUE((*head)->Save(dir.path()).ok());
  auto loaded = ValueHead::Load(dir.path(), 32, at::kCPU, at::kFloat);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_TRUE(at::equal((*loaded)->Forward(hidden), values));
  EXPECT_EQ((*head)->module().named_parameters().size(), 2u);
  auto wrong = ValueHead::Load(dir.path(), 16, at::kCPU, at::kFloat);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("v_head.weight"));
  // Gradients reach the head's parameters.
  (*head)->Forward(hidden).sum().backward();
  EXPECT_TRUE((*head)->weight().grad().defined());
}

}  // namespace
}  // namespace memr1::llm
