// The agents against a real memstore server on 127.0.0.1: related-memory retrieval for the
// Memory Manager, per-speaker retrieval for the Answer Agent, the prompt budget with a real
// (scripted) policy's token counts, and the Memory Manager's id mapping end to end.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "actor/answer_agent.h"
#include "actor/chat_encoding.h"
#include "actor/memory_manager.h"
#include "actor/prompts.h"
#include "actor/scripted_policy.h"
#include "llm/bpe_trainer.h"
#include "llm/tokenizer.h"
#include "tests/actor/actor_testing.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

struct Fact {
  std::string speaker;
  std::string text;
  std::string time;
};

class AgentsRetrievalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestMemstore> memstore = testing::StartTestMemstore(dir_.path());
    ASSERT_TRUE(memstore.ok()) << memstore.status();
    memstore_ = *std::move(memstore);
  }

  const memstore::ShardRouter& router() { return *memstore_.router; }

  void CreateBank(const std::string& bank) {
    v1::CreateBankRequest request;
    request.set_bank(bank);
    ASSERT_TRUE(router().CreateBank(request).ok());
  }

  // ADDs `facts` in one Apply; returns the new ids in order.
  std::vector<std::string> Add(const std::string& bank, const std::vector<Fact>& facts) {
    v1::ApplyRequest request;
    request.set_bank(bank);
    for (const Fact& fact : facts) {
      v1::Operation* op = request.add_ops();
      op->set_event(v1::ADD);
      op->set_text(fact.text);
      op->set_speaker(fact.speaker);
      op->set_session_time(fact.time);
    }
    absl::StatusOr<v1::ApplyResponse> response = router().Apply(request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::vector<std::string> ids;
    if (!response.ok()) return ids;
    for (const v1::OpResult& result : response->results()) ids.push_back(result.memory_id());
    return ids;
  }

  // id -> text of the live memories of `bank`.
  std::map<std::string, std::string> Contents(const std::string& bank) {
    v1::ListRequest request;
    request.set_bank(bank);
    absl::StatusOr<v1::ListResponse> response = router().List(request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::map<std::string, std::string> contents;
    if (!response.ok()) return contents;
    for (const v1::Memory& memory : response->memories()) contents[memory.id()] = memory.text();
    return contents;
  }

  testing::TempDir dir_;
  testing::TestMemstore memstore_;
};

std::vector<std::string> Ids(const std::vector<ShownMemory>& memories) {
  std::vector<std::string> ids;
  for (const ShownMemory& memory : memories) ids.push_back(memory.id);
  return ids;
}

TEST_F(AgentsRetrievalTest, NoFactsMeansNoSearch) {
  // The bank does not exist: any search would fail, so OK proves that none was made.
  absl::StatusOr<std::vector<ShownMemory>> shown = RetrieveRelated(router(), "nope", 0, {}, 5);
  ASSERT_TRUE(shown.ok()) << shown.status();
  EXPECT_THAT(*shown, IsEmpty());
  shown = RetrieveRelated(router(), "nope", 0, {"Maya lives in Porto"}, 5);
  ASSERT_FALSE(shown.ok());
  EXPECT_EQ(shown.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(shown.status().message(), HasSubstr("\"nope\""));
}

TEST_F(AgentsRetrievalTest, RelatedMemoriesPerFactDeduplicatedInFactOrder) {
  CreateBank("ep1");
  const std::vector<std::string> ids =
      Add("ep1", {{"Maya", "Maya lives in Porto", "8 May, 2023"},
                  {"Maya", "Maya likes the sea in Porto", "8 May, 2023"},
                  {"Sam", "Sam has a dog named Rex", "8 May, 2023"},
                  {"Sam", "Sam walks Rex every morning", "9 May, 2023"},
                  {"Maya", "Maya works as a nurse", "9 May, 2023"}});
  ASSERT_EQ(ids.size(), 5u);
  // Fact 1 hits the two Porto memories; fact 2 the two Rex memories; k = 1 keeps each fact's
  // best only.
  absl::StatusOr<std::vector<ShownMemory>> shown =
      RetrieveRelated(router(), "ep1", 0, {"Porto Porto", "Rex dog"}, 1);
  ASSERT_TRUE(shown.ok()) << shown.status();
  ASSERT_EQ(shown->size(), 2u);
  EXPECT_EQ((*shown)[0].id, ids[0]);
  EXPECT_EQ((*shown)[1].id, ids[2]);
  EXPECT_EQ((*shown)[1].text, "Sam has a dog named Rex");
  EXPECT_EQ((*shown)[1].speaker, "Sam");
  EXPECT_EQ((*shown)[1].session_time, "8 May, 2023");
  EXPECT_GT((*shown)[1].score, 0);

  // Two facts hitting the same memories: each memory once, with its best score.
  absl::StatusOr<std::vector<ShownMemory>> single =
      RetrieveRelated(router(), "ep1", 0, {"Rex"}, 10);
  absl::StatusOr<std::vector<ShownMemory>> both =
      RetrieveRelated(router(), "ep1", 0, {"Rex", "dog named Rex", "Porto"}, 10);
  ASSERT_TRUE(single.ok() && both.ok());
  EXPECT_THAT(Ids(*single), UnorderedElementsAre(ids[2], ids[3]));
  const std::vector<std::string> both_ids = Ids(*both);
  EXPECT_EQ(std::set<std::string>(both_ids.begin(), both_ids.end()).size(), both_ids.size());
  EXPECT_THAT(both_ids, UnorderedElementsAre(ids[0], ids[1], ids[2], ids[3]));
  // Fact order: the Rex memories (facts 1-2) come before the Porto ones (fact 3).
  EXPECT_THAT(std::vector<std::string>(both_ids.begin() + 2, both_ids.end()),
              UnorderedElementsAre(ids[0], ids[1]));
  // "dog named Rex" scores "Sam has a dog named Rex" above what "Rex" alone gives it.
  double rex_alone = 0;
  for (const ShownMemory& m : *single) {
    if (m.id == ids[2]) rex_alone = m.score;
  }
  for (const ShownMemory& m : *both) {
    if (m.id == ids[2]) {
      EXPECT_GT(m.score, rex_alone);
    }
  }
}

TEST_F(AgentsRetrievalTest, AsOfSeqReadsTheOlderBank) {
  CreateBank("ep2");
  const std::vector<std::string> first = Add("ep2", {{"Maya", "Maya lives in Porto", "1 May"}});
  const std::vector<std::string> second = Add("ep2", {{"Maya", "Maya moved to Lisbon from Porto", "2 May"}});
  ASSERT_EQ(first.size(), 1u);
  ASSERT_EQ(second.size(), 1u);
  absl::StatusOr<std::vector<ShownMemory>> old_state =
      RetrieveRelated(router(), "ep2", /*as_of_seq=*/1, {"Porto"}, 10);
  absl::StatusOr<std::vector<ShownMemory>> latest =
      RetrieveRelated(router(), "ep2", /*as_of_seq=*/0, {"Porto"}, 10);
  ASSERT_TRUE(old_state.ok() && latest.ok());
  EXPECT_THAT(Ids(*old_state), ElementsAre(first[0]));
  EXPECT_THAT(Ids(*latest), UnorderedElementsAre(first[0], second[0]));

  absl::StatusOr<AnswerInput> input =
      RetrieveForQuestion(router(), "ep2", 1, "Where does Maya live? Porto Lisbon", "Maya", "Sam", 5);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_THAT(Ids(input->memories_a), ElementsAre(first[0]));
  // A seq the bank has not reached is an error naming the bank.
  absl::StatusOr<std::vector<ShownMemory>> future =
      RetrieveRelated(router(), "ep2", 7, {"Porto"}, 10);
  ASSERT_FALSE(future.ok());
  EXPECT_THAT(future.status().message(), HasSubstr("ep2"));
}

TEST_F(AgentsRetrievalTest, AnswerRetrievalFiltersBySpeakerAndK) {
  CreateBank("ep3");
  std::vector<Fact> facts;
  for (int i = 0; i < 5; ++i) {
    facts.push_back({"Maya", absl::StrCat("Maya visited Lisbon museum ", i), "8 May, 2023"});
    facts.push_back({"Sam", absl::StrCat("Sam visited Lisbon park ", i), "9 May, 2023"});
  }
  ASSERT_EQ(Add("ep3", facts).size(), 10u);
  absl::StatusOr<AnswerInput> input =
      RetrieveForQuestion(router(), "ep3", 0, "What did they visit in Lisbon?", "Maya", "Sam", 3);
  ASSERT_TRUE(input.ok()) << input.status();
  EXPECT_EQ(input->question, "What did they visit in Lisbon?");
  EXPECT_EQ(input->speaker_a, "Maya");
  EXPECT_EQ(input->speaker_b, "Sam");
  ASSERT_EQ(input->memories_a.size(), 3u);
  ASSERT_EQ(input->memories_b.size(), 3u);
  for (const ShownMemory& m : input->memories_a) EXPECT_EQ(m.speaker, "Maya") << m.text;
  for (const ShownMemory& m : input->memories_b) EXPECT_EQ(m.speaker, "Sam") << m.text;
  for (size_t i = 1; i < input->memories_a.size(); ++i) {
    EXPECT_GE(input->memories_a[i - 1].score, input->memories_a[i].score);  // best first
  }
  // A speaker with no memories gets an empty list, not an error.
  input = RetrieveForQuestion(router(), "ep3", 0, "Lisbon", "Maya", "Alex", 30);
  ASSERT_TRUE(input.ok());
  EXPECT_EQ(input->memories_a.size(), 5u);
  EXPECT_THAT(input->memories_b, IsEmpty());
  // Errors name the bank.
  input = RetrieveForQuestion(router(), "missing-bank", 0, "Lisbon", "Maya", "Sam", 3);
  ASSERT_FALSE(input.ok());
  EXPECT_THAT(input.status().message(), HasSubstr("missing-bank"));
}

// Counts CountPromptTokens calls of a ScriptedPolicy.
class CountingPolicy : public ScriptedPolicy {
 public:
  explicit CountingPolicy(const ChatEncoder* encoder = nullptr)
      : ScriptedPolicy([](const PolicyRequest&) { return std::string("x"); }, encoder) {}
  absl::StatusOr<int64_t> CountPromptTokens(
      absl::Span<const llm::ChatMessage> messages) const override {
    ++calls;
    return ScriptedPolicy::CountPromptTokens(messages);
  }
  mutable int calls = 0;
};

ShownMemory Memory(const std::string& id, double score) {
  ShownMemory memory;
  memory.id = id;
  memory.text = absl::StrCat("memory ", id, " with some words to make it long enough");
  memory.session_time = "8 May, 2023";
  memory.score = score;
  return memory;
}

// A has scores 4, 3, 2, 1; B has 10, 0.5. The drop order (speaker with more memories first; on
// a tie the lower last score) is: a4, a3, b2 (tie: 0.5 < 3), a2, a1 (tie: 4 < 10), b1.
TEST_F(AgentsRetrievalTest, BudgetDropsLowestScoredFromTheLargerSpeaker) {
  AnswerInput input;
  input.question = "Where does Maya live?";
  input.speaker_a = "Maya";
  input.speaker_b = "Sam";
  input.memories_a = {Memory("a1", 4), Memory("a2", 3), Memory("a3", 2), Memory("a4", 1)};
  input.memories_b = {Memory("b1", 10), Memory("b2", 0.5)};
  const std::vector<std::vector<std::string>> expected = {
      {"a1", "a2", "a3", "a4", "b1", "b2"}, {"a1", "a2", "a3", "b1", "b2"},
      {"a1", "a2", "b1", "b2"},             {"a1", "a2", "b1"},
      {"a1", "b1"},                         {"b1"},
      {}};
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(v1::ActorConfig());
  ASSERT_TRUE(templates.ok());
  SamplingOptions sampling;
  sampling.max_tokens = 50;
  CountingPolicy policy;

  for (size_t drops = 0; drops < expected.size(); ++drops) {
    SCOPED_TRACE(absl::StrCat("drops ", drops));
    // The budget that fits exactly the expected memories: their prompt, counted unbudgeted.
    AnswerInput kept = input;
    kept.memories_a.clear();
    kept.memories_b.clear();
    for (const std::string& id : expected[drops]) {
      (id[0] == 'a' ? kept.memories_a : kept.memories_b)
          .push_back(id[0] == 'a' ? input.memories_a[id[1] - '1'] : input.memories_b[id[1] - '1']);
    }
    absl::StatusOr<AnswerRequest> unbudgeted =
        BuildAnswerRequest(*templates, kept, sampling, nullptr);
    ASSERT_TRUE(unbudgeted.ok());
    absl::StatusOr<int64_t> tokens = policy.CountPromptTokens(unbudgeted->request.messages);
    ASSERT_TRUE(tokens.ok());
    policy.set_max_prompt_tokens(*tokens + sampling.max_tokens);
    policy.calls = 0;

    absl::StatusOr<AnswerRequest> request =
        BuildAnswerRequest(*templates, input, sampling, &policy);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_EQ(Ids(request->shown), expected[drops]);
    EXPECT_EQ(request->dropped_for_budget, static_cast<int>(drops));
    EXPECT_EQ(request->request.messages[0].content, unbudgeted->request.messages[0].content);
    // At most log2(6) + 2 counts.
    EXPECT_LE(policy.calls, static_cast<int>(std::ceil(std::log2(6.0))) + 2);
  }
}

TEST_F(AgentsRetrievalTest, BudgetCountsStayLogarithmic) {
  AnswerInput input;
  input.question = "q";
  input.speaker_a = "A";
  input.speaker_b = "B";
  for (int i = 0; i < 60; ++i) {
    input.memories_a.push_back(Memory(absl::StrCat("a", i), 100 - i));
    input.memories_b.push_back(Memory(absl::StrCat("b", i), 100 - i));
  }
  PromptTemplates templates;
  templates.answer = "{{question}}\n{{memories}}";
  SamplingOptions sampling;
  sampling.max_tokens = 10;
  CountingPolicy policy;
  policy.set_max_prompt_tokens(1000);
  absl::StatusOr<AnswerRequest> request = BuildAnswerRequest(templates, input, sampling, &policy);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_GT(request->dropped_for_budget, 0);
  EXPECT_LT(request->dropped_for_budget, 120);
  EXPECT_EQ(request->shown.size(), 120u - request->dropped_for_budget);
  EXPECT_LE(policy.calls, 7 + 2);  // ceil(log2(120)) + 2
  // It fits, and one memory more would not.
  absl::StatusOr<int64_t> tokens = policy.CountPromptTokens(request->request.messages);
  ASSERT_TRUE(tokens.ok());
  EXPECT_LE(*tokens + sampling.max_tokens, 1000);
  EXPECT_GT(*tokens + sampling.max_tokens + 40, 1000);  // a memory line is ~60 bytes
}

// The same budget with a real byte-level BPE tokenizer and the Qwen chat template, as a local
// policy counts: the unbudgeted prompt fits a limit of exactly its size, one token less drops.
TEST_F(AgentsRetrievalTest, BudgetWithARealTokenizer) {
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(v1::ActorConfig());
  ASSERT_TRUE(templates.ok());
  AnswerInput input;
  input.question = "Where does Maya live now?";
  input.speaker_a = "Maya";
  input.speaker_b = "Sam";
  for (int i = 0; i < 20; ++i) {
    input.memories_a.push_back(Memory(absl::StrCat("a", i), 50 - i));
    input.memories_b.push_back(Memory(absl::StrCat("b", i), 40 - i));
  }
  llm::BpeTrainerOptions options;
  options.vocab_size = 500;
  options.min_frequency = 1;
  const std::vector<std::string> corpus = {std::string(DefaultAnswerPrompt()),
                                           input.memories_a[0].text, input.question};
  absl::StatusOr<llm::TrainedTokenizer> trained = llm::TrainBpe(corpus, options);
  ASSERT_TRUE(trained.ok()) << trained.status();
  ASSERT_TRUE(llm::WriteTrainedTokenizer(*trained, dir_.Sub("tok")).ok());
  absl::StatusOr<std::unique_ptr<llm::Tokenizer>> tokenizer = llm::Tokenizer::Load(dir_.Sub("tok"));
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  absl::StatusOr<ChatEncoder> encoder = ChatEncoder::Create(tokenizer->get(), "", true);
  ASSERT_TRUE(encoder.ok()) << encoder.status();
  CountingPolicy policy(&*encoder);
  SamplingOptions sampling;
  sampling.max_tokens = 64;

  absl::StatusOr<AnswerRequest> full = BuildAnswerRequest(*templates, input, sampling, nullptr);
  ASSERT_TRUE(full.ok());
  absl::StatusOr<int64_t> full_tokens = policy.CountPromptTokens(full->request.messages);
  ASSERT_TRUE(full_tokens.ok());
  policy.set_max_prompt_tokens(*full_tokens + sampling.max_tokens);
  absl::StatusOr<AnswerRequest> request = BuildAnswerRequest(*templates, input, sampling, &policy);
  ASSERT_TRUE(request.ok()) << request.status();
  EXPECT_EQ(request->dropped_for_budget, 0);
  EXPECT_EQ(request->shown.size(), 40u);

  for (int64_t less : {1, 100, 400}) {
    SCOPED_TRACE(less);
    policy.set_max_prompt_tokens(*full_tokens + sampling.max_tokens - less);
    policy.calls = 0;
    request = BuildAnswerRequest(*templates, input, sampling, &policy);
    ASSERT_TRUE(request.ok()) << request.status();
    EXPECT_GE(request->dropped_for_budget, 1);
    EXPECT_EQ(request->shown.size(), 40u - request->dropped_for_budget);
    EXPECT_LE(policy.calls, 6 + 2);  // ceil(log2(40)) + 2
    absl::StatusOr<int64_t> tokens = policy.CountPromptTokens(request->request.messages);
    ASSERT_TRUE(tokens.ok());
    EXPECT_LE(*tokens + sampling.max_tokens, policy.max_prompt_tokens());
  }
}

TEST_F(AgentsRetrievalTest, QuestionThatNeverFitsIsInvalidArgumentNamingIt) {
  AnswerInput input;
  input.question = "What is the very long question?";
  input.speaker_a = "Maya";
  input.speaker_b = "Sam";
  input.memories_a = {Memory("a1", 1)};
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(v1::ActorConfig());
  ASSERT_TRUE(templates.ok());
  CountingPolicy policy;
  policy.set_max_prompt_tokens(100);  // the default prompt alone is longer
  const absl::StatusOr<AnswerRequest> request =
      BuildAnswerRequest(*templates, input, SamplingOptions{}, &policy);
  ASSERT_EQ(request.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(request.status().message(), HasSubstr("What is the very long question?"));
  // Without a known context (0) there is no budget at all.
  policy.set_max_prompt_tokens(0);
  EXPECT_TRUE(BuildAnswerRequest(*templates, input, SamplingOptions{}, &policy).ok());
}

// Shown memories -> model output -> ParseManagerOutput -> ToOperations -> Apply: the bank ends
// up holding exactly what the model asked for, under the real ids.
TEST_F(AgentsRetrievalTest, ManagerIdsMapBackToRealMemoriesEndToEnd) {
  CreateBank("ep4");
  // Unrelated memories first, so real ids ("m3".."m5") differ from shown positions.
  const std::vector<std::string> ids =
      Add("ep4", {{"Sam", "Sam likes jazz", "1 May"},
                  {"Sam", "Sam plays chess", "1 May"},
                  {"Maya", "Maya lives in Porto", "8 May, 2023"},
                  {"Maya", "Maya hates cities by the sea", "8 May, 2023"},
                  {"Maya", "Maya has a cat in Porto", "8 May, 2023"}});
  ASSERT_EQ(ids.size(), 5u);

  ManagerInput input;
  input.turn.speaker = "Maya";
  input.turn.dia_id = "D2:1";
  input.turn.session_time = "9 June, 2023";
  input.turn.text = "I moved to Lisbon, by the sea, and I love it. The cat came along.";
  input.facts = {"Maya moved from Porto to Lisbon", "Maya loves living by the sea",
                 "Maya's cat lives in Lisbon"};
  absl::StatusOr<std::vector<ShownMemory>> shown =
      RetrieveRelated(router(), "ep4", 0, input.facts, 3);
  ASSERT_TRUE(shown.ok()) << shown.status();
  input.shown = *shown;
  // Find each Maya memory's shown position, as the model would read them off the prompt.
  std::map<std::string, int> position;
  for (size_t i = 0; i < input.shown.size(); ++i) position[input.shown[i].text] = i;
  ASSERT_TRUE(position.count("Maya lives in Porto") && position.count("Maya hates cities by the sea") &&
              position.count("Maya has a cat in Porto"));
  EXPECT_EQ(input.shown.size(), 3u);  // nothing about Sam is related

  const std::string output = absl::StrCat(
      "```json\n{\"memory\": [\n",
      "{\"id\": \"", position["Maya lives in Porto"],
      "\", \"text\": \"Maya lives in Lisbon\", \"event\": \"UPDATE\", \"old_memory\": \"Maya lives in Porto\"},\n",
      "{\"id\": ", position["Maya hates cities by the sea"], ", \"event\": \"DELETE\"},\n",
      "{\"id\": \"", position["Maya has a cat in Porto"], "\", \"event\": \"NONE\"},\n",
      "{\"id\": \"9\", \"text\": \"Maya loves living by the sea\", \"event\": \"ADD\"}\n",
      "]}\n```");
  const Parsed<std::vector<ManagerOp>> parsed =
      ParseManagerOutput(output, static_cast<int>(input.shown.size()));
  ASSERT_TRUE(parsed.ok()) << parsed.failure->detail;
  v1::ApplyRequest apply;
  apply.set_bank("ep4");
  for (v1::Operation& op : ToOperations(*parsed.value, input)) *apply.add_ops() = std::move(op);
  ASSERT_EQ(apply.ops_size(), 4);
  absl::StatusOr<v1::ApplyResponse> applied = router().Apply(apply);
  ASSERT_TRUE(applied.ok()) << applied.status();
  ASSERT_EQ(applied->results_size(), 4);
  const std::string added = applied->results(3).memory_id();

  EXPECT_EQ(Contents("ep4"), (std::map<std::string, std::string>{
                                 {ids[0], "Sam likes jazz"},
                                 {ids[1], "Sam plays chess"},
                                 {ids[2], "Maya lives in Lisbon"},
                                 {ids[4], "Maya has a cat in Porto"},
                                 {added, "Maya loves living by the sea"}}));
  EXPECT_EQ(added, "m6");
  // The updated memory carries the turn's provenance.
  v1::GetRequest get;
  get.set_bank("ep4");
  get.set_memory_id(ids[2]);
  absl::StatusOr<v1::Memory> updated = router().Get(get);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->turn_id(), "D2:1");
  EXPECT_EQ(updated->session_time(), "9 June, 2023");
  EXPECT_EQ(updated->version(), 2);
}

// A rejected output changes nothing: the caller applies no operation of it.
TEST_F(AgentsRetrievalTest, RejectedOutputLeavesTheBankUnchanged) {
  CreateBank("ep5");
  const std::vector<std::string> ids = Add("ep5", {{"Maya", "Maya lives in Porto", "8 May"}});
  ManagerInput input;
  input.turn.speaker = "Maya";
  input.facts = {"Maya lives in Porto"};
  absl::StatusOr<std::vector<ShownMemory>> shown = RetrieveRelated(router(), "ep5", 0, input.facts, 5);
  ASSERT_TRUE(shown.ok());
  input.shown = *shown;
  ASSERT_EQ(input.shown.size(), 1u);
  const Parsed<std::vector<ManagerOp>> parsed = ParseManagerOutput(
      R"({"memory": [{"text": "Maya is happy", "event": "ADD"}, {"id": "0", "event": "DELETE"},
                     {"id": "1", "event": "DELETE"}]})",
      1);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.failure->kind, FormatFailureKind::kDeleteNotShown);
  EXPECT_FALSE(parsed.value.has_value());
  EXPECT_EQ(Contents("ep5"), (std::map<std::string, std::string>{{ids[0], "Maya lives in Porto"}}));
}

}  // namespace
}  // namespace memr1::actor
