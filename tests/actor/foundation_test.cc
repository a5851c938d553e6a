// The actor foundation: dialogue turns and evidence lookup, the scripted policy (byte ids and
// ids of a real BPE tokenizer with the Qwen chat template), trajectories made from completions
// (checked by the learner's own validator), and sampling options.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actor/chat_encoding.h"
#include "actor/scripted_policy.h"
#include "actor/trajectory_builder.h"
#include "actor/turns.h"
#include "learner/trajectory_io.h"
#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "tests/actor/actor_testing.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;
using ::testing::Each;
using ::testing::IsEmpty;
using testing::SmallConversation;
using testing::TempDir;

// ---- turns ----

TEST(TurnsTest, FlattenTurnsNumbersTurnsAcrossSessions) {
  const std::vector<TurnContext> turns = FlattenTurns(SmallConversation());
  ASSERT_EQ(turns.size(), 5u);
  const std::vector<std::string> dia_ids = {"D1:1", "D1:2", "D1:3", "D2:1", "D2:2"};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(turns[i].index, i);
    EXPECT_EQ(turns[i].dia_id, dia_ids[i]);
  }
  EXPECT_EQ(turns[0].session, 1);
  EXPECT_EQ(turns[0].session_time, "8 May, 2023");
  EXPECT_EQ(turns[0].speaker, "Maya");
  EXPECT_EQ(turns[0].text, "I live in Porto.");
  EXPECT_EQ(turns[2].speaker, "Sam");
  EXPECT_EQ(turns[3].session, 2);
  EXPECT_EQ(turns[3].session_time, "9 June, 2023");
  EXPECT_EQ(turns[3].text, "I moved to Lisbon.");
}

TEST(TurnsTest, FlattenTurnsShowsImageCaptions) {
  Conversation conversation = SmallConversation();
  conversation.sessions[0].turns[1].image_caption = "a photo of a bridge";
  const std::vector<TurnContext> turns = FlattenTurns(conversation);
  EXPECT_TRUE(absl::StrContains(turns[1].text, "Nice city!")) << turns[1].text;
  EXPECT_TRUE(absl::StrContains(turns[1].text, "a photo of a bridge")) << turns[1].text;
}

TEST(TurnsTest, EvidenceResolvesDialogueIds) {
  const Conversation conversation = SmallConversation();
  EXPECT_THAT(EvidenceTurns(conversation, {"D1:1", "D2:1"}), ElementsAre(0, 3));
  EXPECT_EQ(LastEvidenceTurn(conversation, {"D1:1", "D2:1"}), 3);
  EXPECT_THAT(EvidenceTurns(conversation, {"D1:3"}), ElementsAre(2));
  EXPECT_EQ(LastEvidenceTurn(conversation, {"D1:3"}), 2);
  // Sorted and without duplicates whatever the order given.
  EXPECT_THAT(EvidenceTurns(conversation, {"D2:2", "D1:2", "D2:2"}), ElementsAre(1, 4));
}

TEST(TurnsTest, MalformedEvidenceEntriesAreSplit) {
  const Conversation conversation = SmallConversation();
  // LoCoMo writes a few entries as "D8:6; D9:17" or with a leading space.
  EXPECT_THAT(EvidenceTurns(conversation, {"D1:1; D2:1"}), ElementsAre(0, 3));
  EXPECT_THAT(EvidenceTurns(conversation, {" D1:3"}), ElementsAre(2));
  EXPECT_THAT(EvidenceTurns(conversation, {"D1:2, D2:2"}), ElementsAre(1, 4));
  EXPECT_EQ(LastEvidenceTurn(conversation, {"D1:1; D2:1"}), 3);
}

TEST(TurnsTest, UnknownEvidenceIsIgnored) {
  const Conversation conversation = SmallConversation();
  EXPECT_THAT(EvidenceTurns(conversation, {"D9:9"}), IsEmpty());
  EXPECT_EQ(LastEvidenceTurn(conversation, {"D9:9"}), -1);
  EXPECT_EQ(LastEvidenceTurn(conversation, {}), -1);
  EXPECT_EQ(LastEvidenceTurn(conversation, {""}), -1);
  // The known part of a mixed list still counts.
  EXPECT_THAT(EvidenceTurns(conversation, {"D9:9", "D1:2"}), ElementsAre(1));
}

TEST(TurnsTest, SessionIdsNameWholeSessions) {
  Conversation conversation = SmallConversation();
  conversation.sessions[0].id = "answer_session_a";
  conversation.sessions[1].id = "answer_session_b";
  EXPECT_THAT(EvidenceTurns(conversation, {"answer_session_a"}), ElementsAre(0, 1, 2));
  EXPECT_EQ(LastEvidenceTurn(conversation, {"answer_session_a"}), 2);
  EXPECT_THAT(EvidenceTurns(conversation, {"answer_session_b", "D1:1"}), ElementsAre(0, 3, 4));
  EXPECT_EQ(LastEvidenceTurn(conversation, {"answer_session_b"}), 4);
}

// ---- sampling options ----

TEST(SamplingOptionsTest, DefaultsAndGreedyAreValid) {
  EXPECT_TRUE(SamplingOptions().Validate().ok());
  SamplingOptions greedy;
  greedy.temperature = 0;
  EXPECT_TRUE(greedy.Validate().ok());
}

TEST(SamplingOptionsTest, BadFieldsAreNamed) {
  const auto error_of = [](auto mutate) {
    SamplingOptions options;
    mutate(options);
    const absl::Status status = options.Validate();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    return std::string(status.message());
  };
  EXPECT_THAT(error_of([](SamplingOptions& o) { o.temperature = -0.5; }),
              ::testing::HasSubstr("temperature"));
  EXPECT_THAT(error_of([](SamplingOptions& o) {
                o.temperature = std::numeric_limits<double>::quiet_NaN();
              }),
              ::testing::HasSubstr("temperature"));
  EXPECT_THAT(error_of([](SamplingOptions& o) { o.top_p = 0; }), ::testing::HasSubstr("top_p"));
  EXPECT_THAT(error_of([](SamplingOptions& o) { o.top_p = 1.5; }),
              ::testing::HasSubstr("top_p"));
  EXPECT_THAT(error_of([](SamplingOptions& o) { o.top_k = -1; }), ::testing::HasSubstr("top_k"));
  EXPECT_THAT(error_of([](SamplingOptions& o) { o.max_tokens = 0; }),
              ::testing::HasSubstr("max_tokens"));
}

// ---- scripted policy ----

PolicyRequest Request(const std::string& user, uint64_t seed = 0) {
  PolicyRequest request;
  request.messages = {{"system", "Be brief."}, {"user", user}};
  request.sampling.seed = seed;
  return request;
}

// Echoes the last message in upper case.
absl::StatusOr<std::string> Shout(const PolicyRequest& request) {
  std::string text = request.messages.back().content;
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

std::vector<int32_t> BytesOf(const std::string& text) {
  return std::vector<int32_t>(text.begin(), text.end());
}

TEST(ScriptedPolicyTest, ByteModeIdsAreUtf8Bytes) {
  ScriptedPolicy policy(Shout);
  const std::vector<PolicyRequest> requests = {Request("hi there"), Request("bye", 3)};
  absl::StatusOr<std::vector<Completion>> completions = policy.Complete(requests);
  ASSERT_TRUE(completions.ok()) << completions.status();
  ASSERT_EQ(completions->size(), 2u);
  const Completion& first = (*completions)[0];
  EXPECT_EQ(first.text, "HI THERE");
  EXPECT_EQ(first.prompt_ids, BytesOf("system: Be brief.\nuser: hi there\n"));
  EXPECT_EQ(first.response_ids, BytesOf("HI THERE"));
  EXPECT_EQ(first.logprobs.size(), first.response_ids.size());
  EXPECT_THAT(first.logprobs, Each(0.0f));
  EXPECT_FALSE(first.truncated);
  EXPECT_EQ((*completions)[1].text, "BYE");
  EXPECT_EQ(*policy.CountPromptTokens(requests[0].messages),
            static_cast<int64_t>(first.prompt_ids.size()));

  ASSERT_EQ(policy.requests().size(), 2u);
  EXPECT_EQ(policy.requests()[1].messages.back().content, "bye");
  EXPECT_EQ(policy.requests()[1].sampling.seed, 3u);
  EXPECT_TRUE(policy.Complete({Request("again")}).ok());
  EXPECT_THAT(policy.batch_sizes(), ElementsAre(2u, 1u));
  EXPECT_TRUE(policy.has_tokens());
}

TEST(ScriptedPolicyTest, ScriptErrorsAndBadSamplingFailTheCall) {
  ScriptedPolicy policy([](const PolicyRequest& request) -> absl::StatusOr<std::string> {
    if (request.messages.back().content == "fail") {
      return absl::InternalError("script refused");
    }
    return std::string("ok");
  });
  absl::StatusOr<std::vector<Completion>> failed =
      policy.Complete({Request("fine"), Request("fail")});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(std::string(failed.status().message()), ::testing::HasSubstr("request 1"));
  EXPECT_THAT(std::string(failed.status().message()), ::testing::HasSubstr("script refused"));

  PolicyRequest bad = Request("fine");
  bad.sampling.top_p = 0;
  EXPECT_EQ(policy.Complete({bad}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ScriptedPolicyTest, VersionAndPromptBudgetAreSettable) {
  ScriptedPolicy policy(Shout, nullptr, 4);
  EXPECT_EQ(policy.version(), 4);
  EXPECT_TRUE(absl::StrContains(policy.Describe(), "v4")) << policy.Describe();
  policy.set_version(5);
  EXPECT_EQ(policy.version(), 5);
  EXPECT_EQ(policy.max_prompt_tokens(), 0);
  policy.set_max_prompt_tokens(128);
  EXPECT_EQ(policy.max_prompt_tokens(), 128);
}

// A byte-level BPE tokenizer with the ChatML special tokens and the Qwen-2.5 chat template,
// trained in a temp dir.
class EncodedScriptTest : public ::testing::Test {
 protected:
  void SetUp() override {
    llm::BpeTrainerOptions options;
    options.vocab_size = 400;
    options.min_frequency = 1;
    const std::vector<std::string> corpus = {
        "I live in Porto.", "I moved to Lisbon.", "I have a dog named Rex.",
        "{\"memory\": [{\"id\": \"0\", \"text\": \"Lives in Lisbon\", \"event\": \"ADD\"}]}"};
    absl::StatusOr<llm::TrainedTokenizer> trained = llm::TrainBpe(corpus, options);
    ASSERT_TRUE(trained.ok()) << trained.status();
    ASSERT_TRUE(llm::WriteTrainedTokenizer(*trained, dir_.path()).ok());
    absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tokenizer =
        llm::Tokenizer::Load(dir_.path());
    ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
    tokenizer_ = *std::move(tokenizer);
    absl::StatusOr<ChatEncoder> encoder =
        ChatEncoder::Create(tokenizer_.get(), "", /*enable_thinking=*/true);
    ASSERT_TRUE(encoder.ok()) << encoder.status();
    encoder_ = std::make_unique<ChatEncoder>(*std::move(encoder));
  }

  TempDir dir_;
  std::unique_ptr<llm::Tokenizer> tokenizer_;
  std::unique_ptr<ChatEncoder> encoder_;
};

TEST_F(EncodedScriptTest, IdsAreTheTokenizersAndEndWithAStopId) {
  ASSERT_FALSE(encoder_->stop_ids().empty());
  const std::string answer = "{\"memory\": [{\"id\": \"0\", \"text\": \"Lives in Lisbon\"}]}";
  ScriptedPolicy policy([&](const PolicyRequest&) -> absl::StatusOr<std::string> {
    return answer;
  }, encoder_.get());
  const PolicyRequest request = Request("I moved to Lisbon.");
  absl::StatusOr<std::vector<Completion>> completions = policy.Complete({request});
  ASSERT_TRUE(completions.ok()) << completions.status();
  const Completion& completion = (*completions)[0];
  EXPECT_EQ(completion.text, answer);

  absl::StatusOr<std::vector<int32_t>> prompt = encoder_->EncodePrompt(request.messages);
  ASSERT_TRUE(prompt.ok());
  EXPECT_EQ(completion.prompt_ids, *prompt);
  // The rendered prompt is the ChatML form the Qwen template writes.
  absl::StatusOr<std::string> prompt_text =
      tokenizer_->Decode(completion.prompt_ids, /*skip_special_tokens=*/false);
  ASSERT_TRUE(prompt_text.ok());
  EXPECT_TRUE(absl::StrContains(*prompt_text, "<|im_start|>user\nI moved to Lisbon.<|im_end|>"))
      << *prompt_text;
  EXPECT_TRUE(absl::EndsWith(*prompt_text, "<|im_start|>assistant\n")) << *prompt_text;

  ASSERT_GE(completion.response_ids.size(), 2u);
  EXPECT_EQ(completion.response_ids.back(), encoder_->stop_ids().front());
  const std::vector<int32_t> body(completion.response_ids.begin(),
                                  completion.response_ids.end() - 1);
  EXPECT_EQ(*tokenizer_->Decode(body, /*skip_special_tokens=*/false), answer);
  EXPECT_EQ(*tokenizer_->Decode(completion.response_ids, /*skip_special_tokens=*/true), answer);
  // Fewer ids than bytes: these are BPE tokens, not bytes.
  EXPECT_LT(body.size(), answer.size());
  EXPECT_EQ(completion.logprobs.size(), completion.response_ids.size());
  EXPECT_THAT(completion.logprobs, Each(0.0f));
  EXPECT_EQ(*policy.CountPromptTokens(request.messages),
            static_cast<int64_t>(completion.prompt_ids.size()));
  ASSERT_EQ(policy.requests().size(), 1u);
  EXPECT_EQ(policy.requests()[0].messages[1].content, "I moved to Lisbon.");
}

// ---- trajectories ----

TEST_F(EncodedScriptTest, TrajectoryCarriesTheCompletionAndPassesTheLearnersChecks) {
  ScriptedPolicy policy([](const PolicyRequest&) -> absl::StatusOr<std::string> {
    return std::string("**Answer:** Lisbon");
  }, encoder_.get(), /*version=*/7);
  absl::StatusOr<std::vector<Completion>> completions = policy.Complete({Request("Where?")});
  ASSERT_TRUE(completions.ok()) << completions.status();
  const Completion& completion = (*completions)[0];

  TrajectoryInfo info;
  info.agent = v1::AGENT_KIND_ANSWER_AGENT;
  info.policy_version = policy.version();
  info.reward = 1.0;
  info.group_id = "group-1";
  info.episode.set_conversation_id("conv-test");
  info.episode.set_question_id("conv-test/qa0");
  info.episode.set_turn_index(-1);
  absl::StatusOr<v1::Trajectory> trajectory = MakeTrajectory(completion, info);
  ASSERT_TRUE(trajectory.ok()) << trajectory.status();
  EXPECT_THAT(std::vector<int32_t>(trajectory->prompt_ids().begin(),
                                   trajectory->prompt_ids().end()),
              ::testing::ContainerEq(completion.prompt_ids));
  EXPECT_THAT(std::vector<int32_t>(trajectory->response_ids().begin(),
                                   trajectory->response_ids().end()),
              ::testing::ContainerEq(completion.response_ids));
  EXPECT_EQ(trajectory->behaviour_logprobs_size(),
            static_cast<int>(completion.response_ids.size()));
  EXPECT_EQ(trajectory->policy_version(), 7);
  EXPECT_EQ(trajectory->reward(), 1.0);
  EXPECT_EQ(trajectory->group_id(), "group-1");
  EXPECT_EQ(trajectory->agent(), v1::AGENT_KIND_ANSWER_AGENT);
  EXPECT_EQ(trajectory->episode().question_id(), "conv-test/qa0");
  EXPECT_EQ(trajectory->episode().turn_index(), -1);
  // Every response token is a policy token.
  EXPECT_EQ(trajectory->loss_mask_size(), 0);
  EXPECT_FALSE(trajectory->id().empty());
  const absl::Status valid = learner::ValidateTrajectory(*trajectory, tokenizer_->vocab_size());
  EXPECT_TRUE(valid.ok()) << valid;

  absl::StatusOr<v1::Trajectory> again = MakeTrajectory(completion, info);
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->id(), trajectory->id());
}

TEST(TrajectoryBuilderTest, CompletionWithoutIdsIsFailedPrecondition) {
  Completion text_only;
  text_only.text = "Lisbon";
  const absl::Status status = MakeTrajectory(text_only, TrajectoryInfo()).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
}

TEST(TrajectoryBuilderTest, BadCompletionsAreRejected) {
  Completion completion;
  completion.prompt_ids = {1, 2, 3};
  completion.response_ids = {4, 5};
  completion.logprobs = {-0.1f, -0.2f};
  EXPECT_TRUE(MakeTrajectory(completion, TrajectoryInfo()).ok());

  Completion short_logprobs = completion;
  short_logprobs.logprobs = {-0.1f};
  const absl::Status mismatch = MakeTrajectory(short_logprobs, TrajectoryInfo()).status();
  EXPECT_FALSE(mismatch.ok());
  EXPECT_THAT(std::string(mismatch.message()), ::testing::HasSubstr("log-probs"));

  Completion no_response = completion;
  no_response.response_ids.clear();
  no_response.logprobs.clear();
  EXPECT_EQ(MakeTrajectory(no_response, TrajectoryInfo()).status().code(),
            absl::StatusCode::kInvalidArgument);

  TrajectoryInfo nan_reward;
  nan_reward.reward = std::nan("");
  EXPECT_EQ(MakeTrajectory(completion, nan_reward).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace memr1::actor
