// LocalPolicy on a tiny random Qwen2 model written to a temp dir: batching does not change
// greedy completions, seeds reproduce samples, ids and log-probs are what the engine produced,
// prompt limits are enforced, weights can be swapped (and a bad checkpoint changes nothing), and
// MakePolicy / PolicySet resolve and share policies from a job config.

#include "actor/local_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actor/policy_factory.h"
#include "llm/checkpoint_io.h"
#include "llm/decoder.h"
#include "llm/model_config.h"
#include "llm/safetensors.h"
#include "llm/tokenizer.h"
#include "tests/actor/actor_testing.h"
#include "tests/actor/tiny_model.h"

namespace memr1::actor {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::vector<std::string> Corpus() {
  return {"I live in Porto.", "Nice city!", "I have a dog named Rex.", "I moved to Lisbon.",
          "How is Lisbon?", "Where does Maya live?", "What is the name of Sam's dog?",
          "{\"memory\": [{\"id\": \"0\", \"text\": \"Lives in Lisbon\", \"event\": \"UPDATE\"}]}",
          "**Answer:** Lisbon", "Maya moved from Porto to Lisbon in June 2023."};
}

class LocalPolicyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    ASSERT_TRUE(testing::WriteTinyModel(BaseDir(), Corpus(), /*seed=*/1).ok());
    ASSERT_TRUE(testing::WriteTinyModel(OtherDir(), Corpus(), /*seed=*/2).ok());
    // Same vocabulary, other hidden size: a checkpoint whose shapes do not fit.
    absl::StatusOr<llm::ModelConfig> config = llm::LoadModelConfig(BaseDir());
    ASSERT_TRUE(config.ok()) << config.status();
    config->hidden_size = 48;
    config->head_dim = 12;
    auto wrong = llm::CausalLM::Create(*config, c10::Device("cpu"), c10::kFloat);
    ASSERT_TRUE(wrong.ok()) << wrong.status();
    ASSERT_TRUE(llm::SaveCausalLM(**wrong, WrongDir()).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string BaseDir() { return dir_->Sub("base"); }
  static std::string OtherDir() { return dir_->Sub("other"); }
  static std::string WrongDir() { return dir_->Sub("wrong"); }

  static LocalPolicyOptions Options() {
    LocalPolicyOptions options;
    options.model_dir = BaseDir();
    options.max_batch_size = 4;
    options.max_prompt_tokens = 256;
    options.max_response_tokens = 32;
    return options;
  }
  static std::unique_ptr<LocalPolicy> MustCreate(const LocalPolicyOptions& options) {
    absl::StatusOr<std::unique_ptr<LocalPolicy>> policy = LocalPolicy::Create(options);
    EXPECT_TRUE(policy.ok()) << policy.status();
    return policy.ok() ? *std::move(policy) : nullptr;
  }

  static TempDir* dir_;
};

TempDir* LocalPolicyTest::dir_ = nullptr;

PolicyRequest Request(const std::string& user, double temperature = 0, uint64_t seed = 0,
                      int64_t max_tokens = 12) {
  PolicyRequest request;
  request.messages = {{"system", "Answer briefly."}, {"user", user}};
  request.sampling.temperature = temperature;
  request.sampling.seed = seed;
  request.sampling.max_tokens = max_tokens;
  return request;
}

std::vector<PolicyRequest> FourPrompts() {
  return {Request("Where does Maya live?"), Request("What is the name of Sam's dog?"),
          Request("I moved to Lisbon."), Request("How is Lisbon? Nice city!")};
}

TEST_F(LocalPolicyTest, GreedyCompletionsAreTheSameAloneAndInABatch) {
  auto policy = MustCreate(Options());
  ASSERT_NE(policy, nullptr);
  const std::vector<PolicyRequest> requests = FourPrompts();
  absl::StatusOr<std::vector<Completion>> batched = policy->Complete(requests);
  ASSERT_TRUE(batched.ok()) << batched.status();
  ASSERT_EQ(batched->size(), 4u);
  LocalPolicyOptions single_options = Options();
  single_options.max_batch_size = 1;
  auto single = MustCreate(single_options);
  ASSERT_NE(single, nullptr);
  for (size_t i = 0; i < requests.size(); ++i) {
    absl::StatusOr<std::vector<Completion>> alone = single->Complete({requests[i]});
    ASSERT_TRUE(alone.ok()) << alone.status();
    const Completion& a = (*alone)[0];
    const Completion& b = (*batched)[i];
    EXPECT_EQ(a.response_ids, b.response_ids) << "request " << i;
    EXPECT_EQ(a.text, b.text) << "request " << i;
    EXPECT_EQ(a.prompt_ids, b.prompt_ids) << "request " << i;
    ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
    for (size_t t = 0; t < a.logprobs.size(); ++t) {
      EXPECT_NEAR(a.logprobs[t], b.logprobs[t], 1e-4) << "request " << i << " token " << t;
    }
  }
  // Different prompts give different completions (the model is not ignoring its input).
  EXPECT_NE((*batched)[0].response_ids, (*batched)[1].response_ids);
}

TEST_F(LocalPolicyTest, SeedsReproduceSamples) {
  auto policy = MustCreate(Options());
  ASSERT_NE(policy, nullptr);
  const auto sample = [&](uint64_t seed) {
    absl::StatusOr<std::vector<Completion>> out =
        policy->Complete({Request("Where does Maya live?", /*temperature=*/1.0, seed, 16)});
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? (*out)[0].response_ids : std::vector<int32_t>{};
  };
  const std::vector<int32_t> first = sample(7);
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(sample(7), first);
  EXPECT_NE(sample(8), first);
  // The same seed in a batch with other requests still gives the same sample.
  std::vector<PolicyRequest> batch = FourPrompts();
  batch.insert(batch.begin() + 2, Request("Where does Maya live?", 1.0, 7, 16));
  absl::StatusOr<std::vector<Completion>> batched = policy->Complete(batch);
  ASSERT_TRUE(batched.ok()) << batched.status();
  EXPECT_EQ((*batched)[2].response_ids, first);
}

TEST_F(LocalPolicyTest, IdsLogprobsAndTextAreWhatTheEngineProduced) {
  auto policy = MustCreate(Options());
  ASSERT_NE(policy, nullptr);
  std::vector<PolicyRequest> requests = FourPrompts();
  requests[1].sampling.temperature = 0.8;
  requests[1].sampling.seed = 3;
  requests[2].sampling.max_tokens = 3;
  absl::StatusOr<std::vector<Completion>> completions = policy->Complete(requests);
  ASSERT_TRUE(completions.ok()) << completions.status();
  const std::vector<int32_t>& stops = policy->encoder().stop_ids();
  const std::vector<int64_t>& eos = policy->model().config().eos_token_ids;
  auto tokenizer = llm::Tokenizer::Load(BaseDir());
  ASSERT_TRUE(tokenizer.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    const Completion& c = (*completions)[i];
    absl::StatusOr<std::vector<int32_t>> prompt = policy->encoder().EncodePrompt(requests[i].messages);
    ASSERT_TRUE(prompt.ok());
    EXPECT_EQ(c.prompt_ids, *prompt);
    EXPECT_EQ(*policy->CountPromptTokens(requests[i].messages),
              static_cast<int64_t>(c.prompt_ids.size()));
    ASSERT_FALSE(c.response_ids.empty());
    ASSERT_EQ(c.logprobs.size(), c.response_ids.size());
    for (float logprob : c.logprobs) {
      EXPECT_TRUE(std::isfinite(logprob));
      EXPECT_LE(logprob, 0.0f);
    }
    const int32_t last = c.response_ids.back();
    const bool stopped = absl::c_linear_search(stops, last) || absl::c_linear_search(eos, last);
    if (c.truncated) {
      EXPECT_EQ(static_cast<int64_t>(c.response_ids.size()), requests[i].sampling.max_tokens);
    } else {
      EXPECT_TRUE(stopped) << "request " << i << " ended with " << last;
    }
    EXPECT_EQ(c.text, *(*tokenizer)->Decode(c.response_ids, /*skip_special_tokens=*/true));
  }
  EXPECT_LE((*completions)[2].response_ids.size(), 3u);
}

TEST_F(LocalPolicyTest, MaxTokensIsCappedByMaxResponseTokens) {
  LocalPolicyOptions options = Options();
  options.max_response_tokens = 5;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  absl::StatusOr<std::vector<Completion>> out =
      policy->Complete({Request("Where does Maya live?", 0, 0, /*max_tokens=*/100)});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_LE((*out)[0].response_ids.size(), 5u);
  if ((*out)[0].truncated) {
    EXPECT_EQ((*out)[0].response_ids.size(), 5u);
  }
}

TEST_F(LocalPolicyTest, TooLongPromptIsAnErrorNamingTheRequest) {
  LocalPolicyOptions options = Options();
  options.max_prompt_tokens = 40;
  auto policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->max_prompt_tokens(), 40);
  std::string long_text;
  for (int i = 0; i < 20; ++i) absl::StrAppend(&long_text, "Maya moved from Porto to Lisbon. ");
  const absl::Status status =
      policy->Complete({Request("short"), Request(long_text), Request("short")}).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("request 1"));
  EXPECT_THAT(std::string(status.message()), HasSubstr("max_prompt_tokens 40"));
  // Bad sampling is also named.
  PolicyRequest bad = Request("short");
  bad.sampling.top_p = 2;
  const absl::Status sampling = policy->Complete({Request("short"), bad}).status();
  EXPECT_EQ(sampling.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(sampling.message()), HasSubstr("request 1"));
  EXPECT_TRUE(policy->Complete({}).ok());
}

TEST_F(LocalPolicyTest, SetWeightsChangesOutputsAndVersionAndABadCheckpointChangesNothing) {
  auto policy = MustCreate(Options());
  ASSERT_NE(policy, nullptr);
  EXPECT_EQ(policy->version(), 0);
  EXPECT_EQ(policy->Describe(), absl::StrCat("local:", BaseDir(), " (v0)"));
  const std::vector<PolicyRequest> requests = FourPrompts();
  absl::StatusOr<std::vector<Completion>> before = policy->Complete(requests);
  ASSERT_TRUE(before.ok()) << before.status();

  auto other = llm::SafetensorsCheckpoint::Open(OtherDir());
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(policy->SetWeights(**other, 3).ok());
  EXPECT_EQ(policy->version(), 3);
  EXPECT_TRUE(absl::StrContains(policy->Describe(), "(v3)")) << policy->Describe();
  absl::StatusOr<std::vector<Completion>> after = policy->Complete(requests);
  ASSERT_TRUE(after.ok()) << after.status();
  bool changed = false;
  for (size_t i = 0; i < requests.size(); ++i) {
    changed = changed || (*after)[i].response_ids != (*before)[i].response_ids;
  }
  EXPECT_TRUE(changed);
  // The swapped-in weights behave exactly like a policy loaded from them.
  LocalPolicyOptions other_options = Options();
  other_options.model_dir = OtherDir();
  auto loaded = MustCreate(other_options);
  ASSERT_NE(loaded, nullptr);
  absl::StatusOr<std::vector<Completion>> reference = loaded->Complete(requests);
  ASSERT_TRUE(reference.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ((*after)[i].response_ids, (*reference)[i].response_ids) << "request " << i;
  }

  auto wrong = llm::SafetensorsCheckpoint::Open(WrongDir());
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  const absl::Status status = policy->SetWeights(**wrong, 4);
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("v4"));
  EXPECT_EQ(policy->version(), 3);
  absl::StatusOr<std::vector<Completion>> unchanged = policy->Complete(requests);
  ASSERT_TRUE(unchanged.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ((*unchanged)[i].response_ids, (*after)[i].response_ids) << "request " << i;
  }
}

TEST_F(LocalPolicyTest, BadOptionsAndMissingFilesAreErrors) {
  LocalPolicyOptions options = Options();
  options.model_dir.clear();
  EXPECT_EQ(LocalPolicy::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = Options();
  options.dtype = "int7";
  EXPECT_THAT(std::string(LocalPolicy::Create(options).status().message()), HasSubstr("dtype"));
  options = Options();
  options.max_response_tokens = 0;
  EXPECT_EQ(LocalPolicy::Create(options).status().code(), absl::StatusCode::kInvalidArgument);
  options = Options();
  options.model_dir = dir_->Sub("missing");
  const absl::Status missing = LocalPolicy::Create(options).status();
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.message()), HasSubstr("missing"));
  options = Options();
  options.chat_family = "not-a-family";
  EXPECT_FALSE(LocalPolicy::Create(options).ok());
}

// ---- MakePolicy / PolicySet ----

v1::JobConfig Job(const std::string& model_path) {
  v1::JobConfig job;
  job.mutable_model()->set_path(model_path);
  job.mutable_actor()->mutable_sampling()->set_max_prompt_tokens(300);
  job.mutable_actor()->mutable_sampling()->set_max_response_tokens(20);
  return job;
}

TEST_F(LocalPolicyTest, MakePolicyResolvesTheLocalModel) {
  v1::JobConfig job = Job(BaseDir());
  v1::PolicyConfig policy;
  policy.set_max_batch_size(3);
  absl::StatusOr<std::unique_ptr<TextPolicy>> made = MakePolicy(policy, job);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_TRUE((*made)->has_tokens());
  EXPECT_EQ((*made)->max_prompt_tokens(), 300);
  auto* local = dynamic_cast<LocalPolicy*>(made->get());
  ASSERT_NE(local, nullptr);
  EXPECT_EQ(local->options().model_dir, BaseDir());
  EXPECT_EQ(local->options().max_response_tokens, 20);
  EXPECT_EQ(local->options().max_batch_size, 3);
  EXPECT_EQ(local->options().dtype, "float32");

  policy.set_model_path(OtherDir());
  made = MakePolicy(policy, job);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(dynamic_cast<LocalPolicy*>(made->get())->options().model_dir, OtherDir());

  const absl::Status none = MakePolicy(v1::PolicyConfig(), Job("")).status();
  EXPECT_EQ(none.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(none.message()), HasSubstr("model_path"));
  EXPECT_THAT(std::string(none.message()), HasSubstr("model.path"));

  v1::PolicyConfig served;
  served.set_backend(v1::PolicyConfig::OPENAI);
  served.set_model("qwen");
  const absl::Status no_url = MakePolicy(served, job).status();
  EXPECT_EQ(no_url.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_url.message()), HasSubstr("base_url"));
  served.set_base_url("http://127.0.0.1:8000/v1");
  served.clear_model();
  const absl::Status no_model = MakePolicy(served, job).status();
  EXPECT_EQ(no_model.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(no_model.message()), HasSubstr("policy.model"));
  served.set_model("qwen");
  made = MakePolicy(served, job);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_FALSE((*made)->has_tokens());
}

TEST_F(LocalPolicyTest, PolicySetSharesOneModelPerDirectory) {
  // Unset policies: every role on the base model, one instance.
  absl::StatusOr<PolicySet> base = PolicySet::FromJob(Job(BaseDir()), false);
  ASSERT_TRUE(base.ok()) << base.status();
  EXPECT_EQ(base->manager(), base->answer());
  EXPECT_EQ(base->extraction(), base->manager());
  EXPECT_EQ(base->distinct().size(), 1u);

  // The same directory spelled differently is still shared.
  v1::JobConfig job = Job(BaseDir());
  job.mutable_actor()->mutable_answer_agent()->mutable_policy()->set_model_path(BaseDir() + "/");
  absl::StatusOr<PolicySet> same = PolicySet::FromJob(job, false);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->manager(), same->answer());

  // A trained answer agent elsewhere gets its own model...
  job.mutable_actor()->mutable_answer_agent()->mutable_policy()->set_model_path(OtherDir());
  absl::StatusOr<PolicySet> two = PolicySet::FromJob(job, false);
  ASSERT_TRUE(two.ok()) << two.status();
  EXPECT_NE(two->manager(), two->answer());
  EXPECT_EQ(two->extraction(), two->manager());
  EXPECT_EQ(two->distinct().size(), 2u);
  EXPECT_EQ(dynamic_cast<LocalPolicy*>(two->answer())->options().model_dir, OtherDir());
  // ...unless the baseline asks for the base model everywhere.
  absl::StatusOr<PolicySet> baseline = PolicySet::FromJob(job, true);
  ASSERT_TRUE(baseline.ok()) << baseline.status();
  EXPECT_EQ(baseline->manager(), baseline->answer());
  EXPECT_EQ(dynamic_cast<LocalPolicy*>(baseline->answer())->options().model_dir, BaseDir());

  // A served answer agent next to the local manager; base_model_only leaves it served.
  v1::PolicyConfig* served = job.mutable_actor()->mutable_answer_agent()->mutable_policy();
  served->set_backend(v1::PolicyConfig::OPENAI);
  served->set_base_url("http://127.0.0.1:8000/v1");
  served->set_model("qwen");
  absl::StatusOr<PolicySet> mixed = PolicySet::FromJob(job, true);
  ASSERT_TRUE(mixed.ok()) << mixed.status();
  EXPECT_TRUE(mixed->manager()->has_tokens());
  EXPECT_FALSE(mixed->answer()->has_tokens());

  // Errors name the agent's config key.
  served->clear_base_url();
  const absl::Status status = PolicySet::FromJob(job, false).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(status.message()), HasSubstr("actor.answer_agent.policy"));

  // A moved set keeps its pointers.
  PolicySet moved = *std::move(two);
  EXPECT_NE(moved.manager(), moved.answer());
  absl::StatusOr<std::vector<Completion>> out = moved.answer()->Complete({Request("hi")});
  EXPECT_TRUE(out.ok()) << out.status();
}

}  // namespace
}  // namespace memr1::actor

namespace memr1::actor {
namespace {

// A model with more embedding rows than its tokenizer has tokens (as Qwen-2.5 pads its vocabulary)
// may sample an id without text: the completion keeps the id (the trajectory trains on what was
// sampled) and the text leaves it out, instead of failing the whole batch.
TEST_F(LocalPolicyTest, IdsPastTheTokenizerAreKeptButHaveNoText) {
  absl::StatusOr<llm::ModelConfig> config = llm::LoadModelConfig(BaseDir());
  ASSERT_TRUE(config.ok()) << config.status();
  auto tokenizer = llm::Tokenizer::Load(BaseDir());
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const int32_t known = (*tokenizer)->vocab_size();
  config->vocab_size = known + 256;
  auto padded = llm::CausalLM::Create(*config, c10::Device("cpu"), c10::kFloat);
  ASSERT_TRUE(padded.ok()) << padded.status();
  llm::InitOptions init;
  init.seed = 3;
  ASSERT_TRUE(llm::InitializeRandom(padded->get(), init).ok());
  const std::string dir = dir_->Sub("padded");
  ASSERT_TRUE(llm::SaveCausalLM(**padded, dir).ok());
  LocalPolicyOptions options = Options();
  options.model_dir = dir;
  options.tokenizer_path = BaseDir();
  std::unique_ptr<LocalPolicy> policy = MustCreate(options);
  ASSERT_NE(policy, nullptr);
  bool saw_unknown = false;
  for (uint64_t seed = 0; seed < 20 && !saw_unknown; ++seed) {
    absl::StatusOr<std::vector<Completion>> out =
        policy->Complete({Request("Where does Maya live?", /*temperature=*/3.0, seed, 32)});
    ASSERT_TRUE(out.ok()) << out.status();
    const Completion& completion = out->front();
    std::vector<int32_t> with_text;
    for (int32_t id : completion.response_ids) {
      if (id >= known) {
        saw_unknown = true;
      } else {
        with_text.push_back(id);
      }
    }
    EXPECT_EQ(completion.text, *(*tokenizer)->Decode(with_text, /*skip_special_tokens=*/true));
    EXPECT_EQ(completion.logprobs.size(), completion.response_ids.size());
  }
  EXPECT_TRUE(saw_unknown) << "no sample reached the padded ids; the test proves nothing";
}

}  // namespace
}  // namespace memr1::actor
