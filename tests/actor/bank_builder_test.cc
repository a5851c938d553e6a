// Bank building with scripted extraction and manager policies against real memstore servers on
// 127.0.0.1: the exact memories, one Apply per turn, reuse, resume after an interruption,
// LLM extraction with a malformed reply, lockstep batching, ADD-only mode, bank names, shards.

#include "actor/bank_builder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "actor/scripted_policy.h"
#include "common/metrics.h"
#include "tests/actor/actor_testing.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

// Templates whose sections the scripts can find without reading the paper's wording.
PromptTemplates TestTemplates() {
  PromptTemplates templates;
  templates.extraction = "EXTRACT speaker={{speaker}} date={{date}}\nTURN: {{turn}}";
  templates.manager = "MANAGE\nFACTS:\n{{facts}}\nMEMORIES:\n{{memories}}\nEND";
  templates.answer = "ANSWER {{question}}\n{{memories}}\nMARK {{marker}}";
  return templates;
}

// The facts and shown memories (id -> text) of a manager prompt of TestTemplates().
struct ManagerPrompt {
  std::vector<std::string> facts;
  std::map<std::string, std::string> shown;
};

ManagerPrompt ReadManagerPrompt(const PolicyRequest& request) {
  const std::string& text = request.messages.back().content;
  ManagerPrompt prompt;
  const size_t facts_at = text.find("FACTS:\n");
  const size_t memories_at = text.find("MEMORIES:\n");
  const size_t end_at = text.rfind("\nEND");
  if (facts_at == std::string::npos || memories_at == std::string::npos) return prompt;
  const std::string facts =
      text.substr(facts_at + 7, memories_at - (facts_at + 7));
  const std::string memories =
      text.substr(memories_at + 10, end_at - (memories_at + 10));
  for (const auto& fact : nlohmann::json::parse(facts)) prompt.facts.push_back(fact);
  for (const auto& memory : nlohmann::json::parse(memories)) {
    prompt.shown[memory["id"].get<std::string>()] = memory["text"].get<std::string>();
  }
  return prompt;
}

std::string ShownIdContaining(const ManagerPrompt& prompt, const std::string& needle) {
  for (const auto& [id, text] : prompt.shown) {
    if (absl::StrContains(text, needle)) return id;
  }
  return "";
}

// The manager the tests script: ADD every fact, except that a fact about moving to Lisbon
// UPDATEs the shown memory that mentions Porto to "<speaker>: I live in Lisbon.".
absl::StatusOr<std::string> ScriptedManager(const PolicyRequest& request) {
  const ManagerPrompt prompt = ReadManagerPrompt(request);
  nlohmann::json ops = nlohmann::json::array();
  for (const std::string& fact : prompt.facts) {
    const std::string porto = ShownIdContaining(prompt, "Porto");
    if (absl::StrContains(fact, "moved to Lisbon") && !porto.empty()) {
      ops.push_back({{"id", porto},
                     {"text", "Maya: I live in Lisbon."},
                     {"event", "UPDATE"},
                     {"old_memory", prompt.shown.at(porto)}});
    } else {
      ops.push_back({{"text", fact}, {"event", "ADD"}});
    }
  }
  return absl::StrCat("```json\n", nlohmann::json{{"memory", ops}}.dump(), "\n```");
}

std::set<std::string> BankTexts(const memstore::ShardRouter& router, const std::string& bank) {
  v1::ListRequest request;
  request.set_bank(bank);
  request.set_page_size(1000);
  absl::StatusOr<v1::ListResponse> response = router.List(request);
  EXPECT_TRUE(response.ok()) << response.status();
  std::set<std::string> texts;
  if (!response.ok()) return texts;
  for (const v1::Memory& memory : response->memories()) texts.insert(memory.text());
  return texts;
}

uint64_t BankSeq(const memstore::ShardRouter& router, const std::string& bank) {
  absl::StatusOr<v1::BankInfo> info = router.ForBank(bank).GetBank(bank);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? info->seq() : 0;
}

// The value of the series of `name` whose labels include all of `labels` (0 when absent).
double MetricValue(const std::string& name, const std::vector<std::string>& labels) {
  std::istringstream lines(MetricsRegistry::Default().ExportText());
  std::string line;
  while (std::getline(lines, line)) {
    if (!absl::StartsWith(line, name + "{")) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    if (!all) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return 0;
}

const std::set<std::string> kExpectedTexts = {"Maya: I live in Lisbon.", "Sam: Nice city!",
                                              "Sam: I have a dog named Rex.",
                                              "Sam: How is Lisbon?"};

class BankBuilderTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(1); }
  void Start(int shards) {
    memstore_ = {};
    absl::StatusOr<testing::TestMemstore> memstore =
        testing::StartTestMemstore(dir_.Sub(absl::StrCat("memstore", shards)), shards);
    ASSERT_TRUE(memstore.ok()) << memstore.status();
    memstore_ = *std::move(memstore);
  }
  const memstore::ShardRouter& router() const { return *memstore_.router; }

  BankBuildOptions IdentityOptions() const {
    BankBuildOptions options;
    options.llm_extraction = false;
    options.sampling.temperature = 0;
    return options;
  }

  std::unique_ptr<BankBuilder> MakeBuilder(TextPolicy* extraction, TextPolicy* manager,
                                           BankBuildOptions options) {
    absl::StatusOr<std::unique_ptr<BankBuilder>> builder =
        BankBuilder::Create(memstore_.router.get(), extraction, manager, &templates_, options);
    EXPECT_TRUE(builder.ok()) << builder.status();
    return builder.ok() ? *std::move(builder) : nullptr;
  }

  testing::TempDir dir_;
  testing::TestMemstore memstore_;
  PromptTemplates templates_ = TestTemplates();
  Conversation conversation_ = testing::SmallConversation();
};

TEST_F(BankBuilderTest, BuildsTheExactMemoriesWithOneApplyPerTurn) {
  ScriptedPolicy manager(ScriptedManager);
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  ASSERT_NE(builder, nullptr);
  const Conversation* conversations[] = {&conversation_};
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(conversations);
  ASSERT_TRUE(built.ok()) << built.status();
  ASSERT_EQ(built->size(), 1u);
  const BuiltBank& bank = built->front();
  EXPECT_EQ(bank.conversation_id, "conv-test");
  EXPECT_EQ(bank.bank, builder->BankName("conv-test"));
  EXPECT_FALSE(bank.reused);
  // Five turns, five Applies: seq counts them (a turn is one Apply even when it changes little).
  EXPECT_EQ(bank.seq, 5u);
  EXPECT_EQ(BankSeq(router(), bank.bank), 5u);
  EXPECT_EQ(BankTexts(router(), bank.bank), kExpectedTexts);
  EXPECT_EQ(bank.stats.turns, 5);
  EXPECT_EQ(bank.stats.facts, 5);
  EXPECT_EQ(bank.stats.manager_calls, 5);
  EXPECT_EQ(bank.stats.manager_failures, 0);
  EXPECT_EQ(bank.stats.ops.at(v1::ADD), 4);
  EXPECT_EQ(bank.stats.ops.at(v1::UPDATE), 1);
  EXPECT_EQ(bank.stats.ops.count(v1::DELETE), 0u);
  // The move to Lisbon was decided with the Porto memory in view, as it was before that turn.
  ASSERT_EQ(manager.requests().size(), 5u);
  const ManagerPrompt fourth = ReadManagerPrompt(manager.requests()[3]);
  EXPECT_THAT(fourth.facts, ElementsAre("Maya: I moved to Lisbon."));
  EXPECT_NE(ShownIdContaining(fourth, "I live in Porto."), "");
  EXPECT_EQ(ShownIdContaining(fourth, "Lisbon"), "");
  // The UPDATE kept the memory's id (the first ADD's) and gave it a second version.
  v1::GetRequest get;
  get.set_bank(bank.bank);
  get.set_memory_id("m1");
  absl::StatusOr<v1::Memory> m1 = router().Get(get);
  ASSERT_TRUE(m1.ok()) << m1.status();
  EXPECT_EQ(m1->text(), "Maya: I live in Lisbon.");
  EXPECT_EQ(m1->version(), 2);
  EXPECT_EQ(m1->speaker(), "Maya");
}

// ScriptedManager, except that the turn about the dog (turn 2) fails with Unavailable(`why`)
// while *fail is true.
auto ManagerFailingOnTheDog(const bool* fail, std::string why) {
  return [fail, why](const PolicyRequest& request) -> absl::StatusOr<std::string> {
    if (*fail && absl::StrContains(request.messages.back().content, "dog")) {
      return absl::UnavailableError(why);
    }
    return ScriptedManager(request);
  };
}

// builder.TurnsLeft, or -1 (with a test failure) on an error.
int64_t TurnsLeft(const BankBuilder& builder, absl::Span<const Conversation* const> conversations) {
  absl::StatusOr<int64_t> left = builder.TurnsLeft(conversations);
  EXPECT_TRUE(left.ok()) << left.status();
  return left.ok() ? *left : -1;
}

TEST_F(BankBuilderTest, ASecondBuildReusesTheBankWithoutPolicyCalls) {
  ScriptedPolicy manager(ScriptedManager);
  const Conversation* conversations[] = {&conversation_};
  {
    std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
    ASSERT_TRUE(builder->Build(conversations).ok());
  }
  const size_t calls = manager.requests().size();
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  std::vector<std::pair<int64_t, int64_t>> progress;
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(
      conversations, [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_TRUE(built->front().reused);
  EXPECT_EQ(built->front().seq, 5u);
  EXPECT_EQ(built->front().stats.turns, 0);
  EXPECT_EQ(manager.requests().size(), calls);
  EXPECT_EQ(BankSeq(router(), built->front().bank), 5u);
  EXPECT_THAT(progress, ElementsAre(std::make_pair(int64_t{5}, int64_t{5})));
}

TEST_F(BankBuilderTest, AnInterruptedBuildResumesAtTheTurnItStoppedAt) {
  bool fail_on_dog = true;
  ScriptedPolicy manager(ManagerFailingOnTheDog(&fail_on_dog, "the model server went away"));
  const Conversation* conversations[] = {&conversation_};
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  EXPECT_EQ(TurnsLeft(*builder, conversations), 5);  // no bank yet
  absl::StatusOr<std::vector<BuiltBank>> failed = builder->Build(conversations);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(TurnsLeft(*builder, conversations), 3);
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(failed.status().message(), "turn 2")) << failed.status();
  const std::string bank = builder->BankName(conversation_.id);
  EXPECT_EQ(BankSeq(router(), bank), 2u);
  EXPECT_EQ(BankTexts(router(), bank),
            (std::set<std::string>{"Maya: I live in Porto.", "Sam: Nice city!"}));

  fail_on_dog = false;
  const size_t before = manager.requests().size();
  absl::StatusOr<std::vector<BuiltBank>> resumed = builder->Build(conversations);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_FALSE(resumed->front().reused);
  EXPECT_EQ(resumed->front().seq, 5u);
  EXPECT_EQ(resumed->front().stats.turns, 3);
  EXPECT_EQ(resumed->front().stats.ops.at(v1::ADD), 2);
  EXPECT_EQ(resumed->front().stats.ops.at(v1::UPDATE), 1);
  // Continued at turn 2: the first new manager prompt is the dog's.
  ASSERT_EQ(manager.requests().size(), before + 3);
  EXPECT_THAT(ReadManagerPrompt(manager.requests()[before]).facts,
              ElementsAre("Sam: I have a dog named Rex."));
  EXPECT_EQ(BankSeq(router(), bank), 5u);
  EXPECT_EQ(BankTexts(router(), bank), kExpectedTexts);
  EXPECT_EQ(TurnsLeft(*builder, conversations), 0);
}

// Two builders of one bank (actors sharing the train banks): one stops at turn 2, the other
// continues from there, and a third build reuses the bank; each turn is applied once.
TEST_F(BankBuilderTest, APeerContinuesABankAnotherBuilderLeftPartial) {
  bool fail_on_dog = true;
  ScriptedPolicy stopping(ManagerFailingOnTheDog(&fail_on_dog, "this actor died"));
  ScriptedPolicy peer(ScriptedManager);
  const Conversation* conversations[] = {&conversation_};
  std::unique_ptr<BankBuilder> first = MakeBuilder(nullptr, &stopping, IdentityOptions());
  std::unique_ptr<BankBuilder> second = MakeBuilder(nullptr, &peer, IdentityOptions());
  ASSERT_EQ(first->BankName(conversation_.id), second->BankName(conversation_.id));
  ASSERT_FALSE(first->Build(conversations).ok());
  EXPECT_EQ(TurnsLeft(*second, conversations), 3);
  absl::StatusOr<std::vector<BuiltBank>> continued = second->Build(conversations);
  ASSERT_TRUE(continued.ok()) << continued.status();
  EXPECT_EQ(continued->front().stats.turns, 3);
  EXPECT_EQ(peer.requests().size(), 3u);
  EXPECT_EQ(BankTexts(router(), continued->front().bank), kExpectedTexts);
  fail_on_dog = false;
  const size_t before = stopping.requests().size();
  absl::StatusOr<std::vector<BuiltBank>> reused = first->Build(conversations);
  ASSERT_TRUE(reused.ok()) << reused.status();
  EXPECT_TRUE(reused->front().reused);
  EXPECT_EQ(stopping.requests().size(), before);
}

// The extractor the LLM-extraction tests script, by the turn text in the prompt.
absl::StatusOr<std::string> ScriptedExtractor(const PolicyRequest& request) {
  const std::string& prompt = request.messages.back().content;
  if (absl::StrContains(prompt, "I live in Porto.")) return std::string("[\"Maya lives in Porto\"]");
  if (absl::StrContains(prompt, "Nice city!")) return std::string("[]");
  if (absl::StrContains(prompt, "dog named Rex")) return std::string("Sure! Sam has a dog.");
  if (absl::StrContains(prompt, "I moved to Lisbon.")) {
    return std::string("Facts:\n```json\n{\"facts\": [\"Maya moved to Lisbon\"]}\n```");
  }
  return std::string("[]");
}

TEST_F(BankBuilderTest, LlmExtractionWithAMalformedReplyAppliesNothingForThatTurn) {
  ScriptedPolicy extractor(ScriptedExtractor);
  ScriptedPolicy manager(ScriptedManager);
  BankBuildOptions options = IdentityOptions();
  options.llm_extraction = true;
  std::unique_ptr<BankBuilder> builder = MakeBuilder(&extractor, &manager, options);
  const double failures_before =
      MetricValue("memr1_actor_format_failures_total", {"agent=\"extraction\"", "kind=\"no_json\""});
  const Conversation* conversations[] = {&conversation_};
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(conversations);
  ASSERT_TRUE(built.ok()) << built.status();
  const BuiltBank& bank = built->front();
  EXPECT_EQ(bank.seq, 5u);
  EXPECT_EQ(BankSeq(router(), bank.bank), 5u);
  EXPECT_EQ(BankTexts(router(), bank.bank), (std::set<std::string>{"Maya: I live in Lisbon."}));
  EXPECT_EQ(bank.stats.facts, 2);
  EXPECT_EQ(bank.stats.extraction_failures, 1);
  EXPECT_EQ(bank.stats.failures_by_kind.at("no_json"), 1);
  EXPECT_EQ(bank.stats.manager_calls, 2);  // only the turns with facts
  EXPECT_EQ(bank.stats.ops.at(v1::ADD), 1);
  EXPECT_EQ(bank.stats.ops.at(v1::UPDATE), 1);
  EXPECT_EQ(extractor.requests().size(), 5u);
  EXPECT_TRUE(absl::StrContains(extractor.requests()[0].messages.back().content,
                                "speaker=Maya date=8 May, 2023"));
  EXPECT_EQ(MetricValue("memr1_actor_format_failures_total",
                        {"agent=\"extraction\"", "kind=\"no_json\""}),
            failures_before + 1);
}

TEST_F(BankBuilderTest, AMalformedManagerReplyAppliesNothingAndIsCounted) {
  ScriptedPolicy manager([](const PolicyRequest& request) -> absl::StatusOr<std::string> {
    if (absl::StrContains(request.messages.back().content, "dog")) {
      return std::string("{\"memory\": [{\"event\": \"ADD\", \"text\": \"x\"");
    }
    return ScriptedManager(request);
  });
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  const double before = MetricValue("memr1_actor_format_failures_total",
                                    {"agent=\"memory_manager\"", "kind=\"malformed_json\""});
  const Conversation* conversations[] = {&conversation_};
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(conversations);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->front().seq, 5u);
  EXPECT_EQ(built->front().stats.manager_failures, 1);
  EXPECT_EQ(built->front().stats.failures_by_kind.at("malformed_json"), 1);
  EXPECT_EQ(BankTexts(router(), built->front().bank),
            (std::set<std::string>{"Maya: I live in Lisbon.", "Sam: Nice city!",
                                   "Sam: How is Lisbon?"}));
  EXPECT_EQ(MetricValue("memr1_actor_format_failures_total",
                        {"agent=\"memory_manager\"", "kind=\"malformed_json\""}),
            before + 1);
}

TEST_F(BankBuilderTest, TurnsOfDifferentConversationsGoToThePoliciesInOneBatch) {
  ScriptedPolicy extractor([](const PolicyRequest& request) -> absl::StatusOr<std::string> {
    // Every turn is one fact: its text line.
    const std::string& prompt = request.messages.back().content;
    const std::string turn = prompt.substr(prompt.find("TURN: ") + 6);
    return nlohmann::json::array({turn}).dump();
  });
  ScriptedPolicy manager([](const PolicyRequest& request) -> absl::StatusOr<std::string> {
    nlohmann::json ops = nlohmann::json::array();
    for (const std::string& fact : ReadManagerPrompt(request).facts) {
      ops.push_back({{"event", "ADD"}, {"text", fact}});
    }
    return nlohmann::json{{"memory", ops}}.dump();
  });
  BankBuildOptions options = IdentityOptions();
  options.llm_extraction = true;
  std::unique_ptr<BankBuilder> builder = MakeBuilder(&extractor, &manager, options);
  Conversation a = testing::SmallConversation("conv-a");
  Conversation b = testing::SmallConversation("conv-b");
  b.sessions.resize(1);  // three turns
  const Conversation* conversations[] = {&a, &b};
  std::vector<std::pair<int64_t, int64_t>> progress;
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(
      conversations, [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_THAT(extractor.batch_sizes(), ElementsAre(2, 2, 2, 1, 1));
  EXPECT_THAT(manager.batch_sizes(), ElementsAre(2, 2, 2, 1, 1));
  EXPECT_EQ((*built)[0].seq, 5u);
  EXPECT_EQ((*built)[1].seq, 3u);
  EXPECT_NE((*built)[0].bank, (*built)[1].bank);
  EXPECT_EQ(BankTexts(router(), (*built)[0].bank),
            (std::set<std::string>{"I live in Porto.", "Nice city!", "I have a dog named Rex.",
                                   "I moved to Lisbon.", "How is Lisbon?"}));
  EXPECT_EQ(BankTexts(router(), (*built)[1].bank),
            (std::set<std::string>{"I live in Porto.", "Nice city!", "I have a dog named Rex."}));
  using P = std::pair<int64_t, int64_t>;
  EXPECT_THAT(progress, ElementsAre(P{0, 8}, P{2, 8}, P{4, 8}, P{6, 8}, P{7, 8}, P{8, 8}));
}

TEST_F(BankBuilderTest, AddOnlyModeAddsEveryFactWithoutAnyPolicy) {
  BankBuildOptions options = IdentityOptions();
  options.manager_mode = ManagerMode::kAddOnly;
  options.tag = "addonly";
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, nullptr, options);
  ASSERT_NE(builder, nullptr);
  const Conversation* conversations[] = {&conversation_};
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(conversations);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_EQ(built->front().seq, 5u);
  EXPECT_EQ(built->front().stats.manager_calls, 0);
  EXPECT_EQ(built->front().stats.ops.at(v1::ADD), 5);
  EXPECT_EQ(BankTexts(router(), built->front().bank),
            (std::set<std::string>{"Maya: I live in Porto.", "Sam: Nice city!",
                                   "Sam: I have a dog named Rex.", "Maya: I moved to Lisbon.",
                                   "Sam: How is Lisbon?"}));
  EXPECT_TRUE(absl::StartsWith(built->front().bank, "addonly.conv-test."));
  EXPECT_TRUE(absl::EndsWith(built->front().bank, ".v0"));
}

TEST_F(BankBuilderTest, BankNamesAreValidAndDistinctPerVersionTagAndSettings) {
  const std::regex valid("[A-Za-z0-9][A-Za-z0-9._:-]{0,199}");
  ScriptedPolicy manager(ScriptedManager);
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  const std::string v0 = builder->BankName("conv-26");
  EXPECT_TRUE(std::regex_match(v0, valid)) << v0;
  EXPECT_TRUE(absl::StartsWith(v0, "mr1.conv-26.")) << v0;
  EXPECT_TRUE(absl::EndsWith(v0, ".v0")) << v0;

  // A new version of the same model changes only the version part.
  manager.set_version(3);
  const std::string v3 = builder->BankName("conv-26");
  EXPECT_EQ(v3, v0.substr(0, v0.size() - 1) + "3");

  // Ids that need sanitising stay valid, '/'-free and distinct.
  const std::string slash = builder->BankName("conv/26");
  const std::string underscore = builder->BankName("conv_26");
  const std::string odd = builder->BankName("gespräch #1 " + std::string(300, 'x'));
  for (const std::string& name : {slash, underscore, odd, builder->BankName("")}) {
    EXPECT_TRUE(std::regex_match(name, valid)) << name;
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
  }
  EXPECT_NE(slash, underscore);

  // Tag, settings and templates change the name; the TTL does not.
  BankBuildOptions other = IdentityOptions();
  other.tag = "exp2";
  EXPECT_TRUE(absl::StartsWith(MakeBuilder(nullptr, &manager, other)->BankName("conv-26"),
                               "exp2.conv-26."));
  other = IdentityOptions();
  other.retrieve_k = 3;
  EXPECT_NE(MakeBuilder(nullptr, &manager, other)->BankName("conv-26"), v3);
  other = IdentityOptions();
  other.ttl_seconds = 600;
  EXPECT_EQ(MakeBuilder(nullptr, &manager, other)->BankName("conv-26"), v3);
  templates_.manager += "\nBe brief.";
  EXPECT_NE(MakeBuilder(nullptr, &manager, IdentityOptions())->BankName("conv-26"), v3);
}

TEST_F(BankBuilderTest, BuildsOverTwoShards) {
  Start(2);
  ScriptedPolicy manager(ScriptedManager);
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  std::vector<Conversation> conversations;
  for (int i = 0; i < 6; ++i) {
    conversations.push_back(testing::SmallConversation(absl::StrCat("conv-", i)));
  }
  std::vector<const Conversation*> pointers;
  for (const Conversation& c : conversations) pointers.push_back(&c);
  absl::StatusOr<std::vector<BuiltBank>> built = builder->Build(pointers);
  ASSERT_TRUE(built.ok()) << built.status();
  for (const BuiltBank& bank : *built) {
    EXPECT_EQ(bank.seq, 5u);
    EXPECT_EQ(BankTexts(router(), bank.bank), kExpectedTexts) << bank.bank;
    // Each bank lives on the shard the ring names (where the next Build will look for it).
    absl::StatusOr<v1::BankInfo> info =
        router().shard(router().ring().ShardFor(bank.bank)).GetBank(bank.bank);
    EXPECT_TRUE(info.ok()) << info.status();
  }
  EXPECT_THAT(manager.batch_sizes(), ElementsAre(6, 6, 6, 6, 6));
  const size_t calls = manager.requests().size();
  absl::StatusOr<std::vector<BuiltBank>> again = builder->Build(pointers);
  ASSERT_TRUE(again.ok()) << again.status();
  for (const BuiltBank& bank : *again) EXPECT_TRUE(bank.reused) << bank.bank;
  EXPECT_EQ(manager.requests().size(), calls);
}

TEST_F(BankBuilderTest, RejectsBadInput) {
  ScriptedPolicy manager(ScriptedManager);
  // A policy manager needs a policy; LLM extraction needs an extractor.
  EXPECT_EQ(BankBuilder::Create(memstore_.router.get(), nullptr, nullptr, &templates_,
                                IdentityOptions())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  BankBuildOptions llm = IdentityOptions();
  llm.llm_extraction = true;
  EXPECT_EQ(
      BankBuilder::Create(memstore_.router.get(), nullptr, &manager, &templates_, llm).status().code(),
      absl::StatusCode::kInvalidArgument);
  BankBuildOptions bad_tag = IdentityOptions();
  bad_tag.tag = "-x/y";
  EXPECT_EQ(BankBuilder::Create(memstore_.router.get(), nullptr, &manager, &templates_, bad_tag)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);

  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  const Conversation* twice[] = {&conversation_, &conversation_};
  EXPECT_EQ(builder->Build(twice).status().code(), absl::StatusCode::kInvalidArgument);

  // ApplyTurn only applies the turn the bank is at.
  const Conversation* once[] = {&conversation_};
  ASSERT_TRUE(builder->Build(once).ok());
  const std::vector<TurnContext> turns = FlattenTurns(conversation_);
  BankBuildStats stats;
  const absl::Status status =
      builder->ApplyTurn(builder->BankName(conversation_.id), turns[2], &stats);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_EQ(stats.turns, 0);
}

TEST_F(BankBuilderTest, ApplyTurnStepsOneBank) {
  ScriptedPolicy manager(ScriptedManager);
  std::unique_ptr<BankBuilder> builder = MakeBuilder(nullptr, &manager, IdentityOptions());
  v1::CreateBankRequest create;
  create.set_bank("stepped");
  create.set_ttl_seconds(0);
  ASSERT_TRUE(router().CreateBank(create).ok());
  BankBuildStats stats;
  for (const TurnContext& turn : FlattenTurns(conversation_)) {
    ASSERT_TRUE(builder->ApplyTurn("stepped", turn, &stats).ok()) << turn.index;
  }
  EXPECT_EQ(stats.turns, 5);
  EXPECT_EQ(BankSeq(router(), "stepped"), 5u);
  EXPECT_EQ(BankTexts(router(), "stepped"), kExpectedTexts);
}

}  // namespace
}  // namespace memr1::actor
