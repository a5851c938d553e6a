// Memory Manager and Answer Agent episodes with scripted policies against a real memstore on
// 127.0.0.1: each member's operations on its own fork, the base bank untouched, forks dropped,
// rewards exactly as the frozen Answer Agent's answers earn them, valid trajectories.

#include "actor/episodes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "actor/bank_builder.h"
#include "actor/scripted_policy.h"
#include "common/metrics.h"
#include "learner/trajectory_io.h"
#include "tests/actor/actor_testing.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;

PromptTemplates TestTemplates() {
  PromptTemplates templates;
  templates.extraction = "EXTRACT speaker={{speaker}} date={{date}}\nTURN: {{turn}}";
  templates.manager = "MANAGE\nFACTS:\n{{facts}}\nMEMORIES:\n{{memories}}\nEND";
  templates.answer = "ANSWER {{question}}\n{{memories}}\nMARK {{marker}}";
  return templates;
}

struct ManagerPrompt {
  std::vector<std::string> facts;
  std::map<std::string, std::string> shown;  // shown id -> text
};

ManagerPrompt ReadManagerPrompt(const PolicyRequest& request) {
  const std::string& text = request.messages.back().content;
  ManagerPrompt prompt;
  const size_t facts_at = text.find("FACTS:\n");
  const size_t memories_at = text.find("MEMORIES:\n");
  const size_t end_at = text.rfind("\nEND");
  if (facts_at == std::string::npos || memories_at == std::string::npos) return prompt;
  for (const auto& fact :
       nlohmann::json::parse(text.substr(facts_at + 7, memories_at - facts_at - 7))) {
    prompt.facts.push_back(fact);
  }
  for (const auto& memory :
       nlohmann::json::parse(text.substr(memories_at + 10, end_at - memories_at - 10))) {
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

// The frozen manager that builds the base bank (as in bank_builder_test): ADD every fact, but
// a move to Lisbon UPDATEs the Porto memory.
absl::StatusOr<std::string> BaseManager(const PolicyRequest& request) {
  const ManagerPrompt prompt = ReadManagerPrompt(request);
  nlohmann::json ops = nlohmann::json::array();
  for (const std::string& fact : prompt.facts) {
    const std::string porto = ShownIdContaining(prompt, "Porto");
    if (absl::StrContains(fact, "moved to Lisbon") && !porto.empty()) {
      ops.push_back({{"id", porto}, {"text", "Maya: I live in Lisbon."}, {"event", "UPDATE"}});
    } else {
      ops.push_back({{"text", fact}, {"event", "ADD"}});
    }
  }
  return nlohmann::json{{"memory", ops}}.dump();
}

constexpr uint64_t kManagerSeed = 100;

// The trained manager: member g (seed kManagerSeed + g) decides differently. With the Porto
// memory shown: g0 UPDATEs it to Lisbon, g1 ADDs the move (a near-duplicate), g2 DELETEs it,
// g3 writes broken JSON. With nothing shown (turn 0): even members ADD the fact, odd ones do
// nothing.
absl::StatusOr<std::string> MemberManager(const PolicyRequest& request) {
  const ManagerPrompt prompt = ReadManagerPrompt(request);
  const uint64_t g = request.sampling.seed - kManagerSeed;
  if (prompt.shown.empty()) {
    if (g % 2 == 1) return std::string("{\"memory\": []}");
    return nlohmann::json{{"memory", {{{"event", "ADD"}, {"text", prompt.facts.at(0)}}}}}.dump();
  }
  const std::string porto = ShownIdContaining(prompt, "Porto");
  switch (g) {
    case 0:
      return nlohmann::json{{"memory",
                             {{{"id", porto},
                               {"event", "UPDATE"},
                               {"text", "Maya: I live in Lisbon."},
                               {"old_memory", "Maya: I live in Porto."}}}}}
          .dump();
    case 1:
      return nlohmann::json{{"memory", {{{"event", "ADD"}, {"text", "Maya: I moved to Lisbon."}}}}}
          .dump();
    case 2:
      return absl::StrCat("Maya has left Porto.\n{\"memory\": [{\"id\": \"", porto,
                          "\", \"event\": \"DELETE\"}]}");
    default:
      return std::string("{\"memory\": [{\"id\": \"0\", \"event\": \"DELETE\"");
  }
}

// The frozen Answer Agent: answers from the memory lines of its prompt (everything after the
// question line), so its answers show what each member's bank holds.
absl::StatusOr<std::string> FrozenAnswerer(const PolicyRequest& request) {
  const std::string& prompt = request.messages.back().content;
  const size_t line_end = prompt.find('\n');
  const std::string question = prompt.substr(7, line_end - 7);
  const std::string memories = prompt.substr(line_end + 1);
  const bool lisbon = absl::StrContains(memories, "Lisbon");
  const bool porto = absl::StrContains(memories, "Porto");
  std::string answer = "I don't know";
  if (question == "Where does Maya live?") {
    if (lisbon && porto) {
      answer = "Porto or Lisbon";
    } else if (lisbon) {
      answer = "Lisbon";
    } else if (porto) {
      answer = "Porto";
    }
  } else if (porto) {
    answer = "Porto";
  }
  return absl::StrCat("- the memories about Maya\n**Answer:** ", answer);
}

double MetricValue(const std::string& name, const std::vector<std::string>& labels) {
  std::istringstream lines(MetricsRegistry::Default().ExportText());
  std::string line;
  while (std::getline(lines, line)) {
    if (!absl::StartsWith(line, name + "{")) continue;
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(line, label);
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return 0;
}

const std::set<std::string> kBaseTexts = {"Maya: I live in Lisbon.", "Sam: Nice city!",
                                          "Sam: I have a dog named Rex.", "Sam: How is Lisbon?"};

class EpisodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestMemstore> memstore = testing::StartTestMemstore(dir_.Sub("ms"));
    ASSERT_TRUE(memstore.ok()) << memstore.status();
    memstore_ = *std::move(memstore);
    // A question answered by the first turn alone, so turn 0 can make an episode.
    QaItem first;
    first.id = "conv-test/qa3";
    first.question = "Where did Maya live in May 2023?";
    first.answer = "Porto";
    first.category = 2;
    first.evidence = {"D1:1"};
    conversation_.qa.push_back(first);

    ScriptedPolicy base_manager(BaseManager);
    BankBuildOptions build;
    build.llm_extraction = false;
    build.sampling.temperature = 0;
    absl::StatusOr<std::unique_ptr<BankBuilder>> builder =
        BankBuilder::Create(memstore_.router.get(), nullptr, &base_manager, &templates_, build);
    ASSERT_TRUE(builder.ok()) << builder.status();
    const Conversation* conversations[] = {&conversation_};
    absl::StatusOr<std::vector<BuiltBank>> built = (*builder)->Build(conversations);
    ASSERT_TRUE(built.ok()) << built.status();
    base_bank_ = built->front().bank;
    ASSERT_EQ(Texts(base_bank_), kBaseTexts);
  }

  EpisodeOptions Options() const {
    EpisodeOptions options;
    options.group_size = 4;
    options.train_sampling.temperature = 1.0;
    options.frozen_sampling.temperature = 0;
    options.llm_extraction = false;
    options.actor_id = "actor-0";
    return options;
  }

  std::unique_ptr<EpisodeRunner> MakeRunner(TextPolicy* extraction, TextPolicy* manager,
                                            TextPolicy* answer, const RewardScorer* scorer,
                                            EpisodeOptions options) {
    absl::StatusOr<std::unique_ptr<EpisodeRunner>> runner = EpisodeRunner::Create(
        memstore_.router.get(), extraction, manager, answer, &templates_, scorer, options);
    EXPECT_TRUE(runner.ok()) << runner.status();
    return runner.ok() ? *std::move(runner) : nullptr;
  }

  std::set<std::string> Texts(const std::string& bank) const {
    v1::ListRequest request;
    request.set_bank(bank);
    request.set_page_size(1000);
    absl::StatusOr<v1::ListResponse> response = memstore_.router->List(request);
    EXPECT_TRUE(response.ok()) << response.status();
    std::set<std::string> texts;
    if (response.ok()) {
      for (const v1::Memory& memory : response->memories()) texts.insert(memory.text());
    }
    return texts;
  }
  absl::StatusOr<v1::BankInfo> Info(const std::string& bank) const {
    return memstore_.router->ForBank(bank).GetBank(bank);
  }
  void ExpectBaseUnchanged() const {
    absl::StatusOr<v1::BankInfo> info = Info(base_bank_);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->seq(), 5u);
    EXPECT_EQ(Texts(base_bank_), kBaseTexts);
  }
  void ExpectForksDropped(const std::string& episode_id, int group) const {
    for (int g = 0; g < group; ++g) {
      const std::string fork = MemberBankName(base_bank_, episode_id, g);
      EXPECT_EQ(Info(fork).status().code(), absl::StatusCode::kNotFound) << fork;
    }
  }

  testing::TempDir dir_;
  testing::TestMemstore memstore_;
  PromptTemplates templates_ = TestTemplates();
  Conversation conversation_ = testing::SmallConversation();
  std::string base_bank_;
};

TEST(EpisodeSelectionTest, TurnsAndQuestionsFollowTheLastEvidenceTurn) {
  Conversation conversation = testing::SmallConversation();
  // qa0 and qa2 end at D2:1 (turn 3), qa1 at D1:3 (turn 2).
  EXPECT_THAT(ManagerEpisodeTurns(conversation), ElementsAre(2, 3));
  std::vector<std::string> ids;
  for (const QaItem* qa : QuestionsForTurn(conversation, 3, 4)) ids.push_back(qa->id);
  EXPECT_THAT(ids, ElementsAre("conv-test/qa0", "conv-test/qa2"));
  ASSERT_EQ(QuestionsForTurn(conversation, 3, 1).size(), 1u);
  EXPECT_EQ(QuestionsForTurn(conversation, 3, 1).front()->id, "conv-test/qa0");
  EXPECT_EQ(QuestionsForTurn(conversation, 3, 0).size(), 2u);
  // D1:1 is evidence of qa0 and qa2, but their answers also depend on turn 3.
  EXPECT_TRUE(QuestionsForTurn(conversation, 0, 4).empty());
  EXPECT_TRUE(QuestionsForTurn(conversation, 1, 4).empty());
}

TEST(EpisodeOptionsTest, FromConfig) {
  v1::JobConfig config;
  absl::StatusOr<EpisodeOptions> defaults = EpisodeOptions::FromConfig(config);
  ASSERT_TRUE(defaults.ok()) << defaults.status();
  EXPECT_EQ(defaults->group_size, 8);
  EXPECT_EQ(defaults->train_sampling.temperature, 1.0);
  EXPECT_EQ(defaults->train_sampling.max_tokens, 2048);
  EXPECT_EQ(defaults->frozen_sampling.temperature, 0.0);
  EXPECT_EQ(defaults->frozen_sampling.max_tokens, 2048);
  EXPECT_EQ(defaults->questions_per_episode, 4);
  EXPECT_EQ(defaults->retrieve_k, 10);
  EXPECT_EQ(defaults->per_speaker_k, 30);
  EXPECT_EQ(defaults->max_facts_per_turn, 8);
  EXPECT_TRUE(defaults->llm_extraction);
  EXPECT_EQ(defaults->fork_ttl_seconds, 3600);

  config.mutable_actor()->mutable_sampling()->set_group_size(3);
  config.mutable_actor()->mutable_sampling()->set_temperature(0.7);
  config.mutable_actor()->mutable_sampling()->set_top_k(20);
  config.mutable_actor()->set_eval_temperature(0.2);
  config.mutable_actor()->mutable_memory_manager()->set_fact_extraction(
      v1::MemoryManagerConfig::IDENTITY);
  absl::StatusOr<EpisodeOptions> custom = EpisodeOptions::FromConfig(config);
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ(custom->group_size, 3);
  EXPECT_EQ(custom->train_sampling.temperature, 0.7);
  EXPECT_EQ(custom->train_sampling.top_k, 20);
  EXPECT_EQ(custom->frozen_sampling.temperature, 0.2);
  EXPECT_EQ(custom->frozen_sampling.top_k, 0);
  EXPECT_FALSE(custom->llm_extraction);

  EpisodeOptions bad = *custom;
  bad.group_size = 0;
  EXPECT_EQ(bad.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EpisodesTest, ManagerEpisodeGivesEachMemberItsOwnForkAndReward) {
  ScriptedPolicy manager(MemberManager, nullptr, /*version=*/7);
  ScriptedPolicy answerer(FrozenAnswerer);
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.25);
  ASSERT_TRUE(scorer.ok());
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  const double failures_before = MetricValue(
      "memr1_actor_format_failures_total", {"agent=\"memory_manager\"", "kind=\"malformed_json\""});

  ManagerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.base_bank = base_bank_;
  spec.turn = 3;  // "I moved to Lisbon."
  spec.episode_id = "ep-1";
  spec.seed = kManagerSeed;
  spec.work_unit_id = "wu-1";
  absl::StatusOr<EpisodeResult> result = runner->RunManagerEpisode(spec);
  ASSERT_TRUE(result.ok()) << result.status();

  EXPECT_EQ(result->episode_id, "ep-1");
  EXPECT_THAT(result->question_ids, ElementsAre("conv-test/qa0", "conv-test/qa2"));
  ASSERT_EQ(result->members.size(), 4u);
  // One decision context, sampled four times in one call with seeds seed + g.
  EXPECT_THAT(manager.batch_sizes(), ElementsAre(4));
  for (int g = 0; g < 4; ++g) {
    EXPECT_EQ(manager.requests()[g].sampling.seed, kManagerSeed + g);
    EXPECT_EQ(manager.requests()[g].messages.back().content,
              manager.requests()[0].messages.back().content);
  }
  // The state before turn 3: Porto, not yet Lisbon.
  const ManagerPrompt shown = ReadManagerPrompt(manager.requests()[0]);
  EXPECT_THAT(shown.facts, ElementsAre("Maya: I moved to Lisbon."));
  EXPECT_NE(ShownIdContaining(shown, "I live in Porto."), "");
  EXPECT_EQ(ShownIdContaining(shown, "Lisbon"), "");

  const auto& members = result->members;
  ASSERT_EQ(members[0].ops.size(), 1u);
  EXPECT_EQ(members[0].ops[0].event(), v1::UPDATE);
  EXPECT_EQ(members[0].ops[0].memory_id(), "m1");
  EXPECT_EQ(members[0].ops[0].text(), "Maya: I live in Lisbon.");
  ASSERT_EQ(members[1].ops.size(), 1u);
  EXPECT_EQ(members[1].ops[0].event(), v1::ADD);
  EXPECT_EQ(members[1].ops[0].text(), "Maya: I moved to Lisbon.");
  ASSERT_EQ(members[2].ops.size(), 1u);
  EXPECT_EQ(members[2].ops[0].event(), v1::DELETE);
  EXPECT_EQ(members[2].ops[0].memory_id(), "m1");
  EXPECT_TRUE(members[3].ops.empty());
  ASSERT_TRUE(members[3].failure.has_value());
  EXPECT_EQ(members[3].failure->kind, FormatFailureKind::kMalformedJson);
  for (int g = 0; g < 3; ++g) EXPECT_FALSE(members[g].failure.has_value()) << g;

  // The frozen AA answered both questions from all four forks in one call.
  EXPECT_THAT(answerer.batch_sizes(), ElementsAre(8));
  EXPECT_THAT(members[0].answers, ElementsAre("Lisbon", "I don't know"));
  EXPECT_THAT(members[1].answers, ElementsAre("Porto or Lisbon", "Porto"));
  EXPECT_THAT(members[2].answers, ElementsAre("I don't know", "I don't know"));
  EXPECT_THAT(members[3].answers, ElementsAre("Porto", "Porto"));
  // Mean EM over the two questions, plus 0.25 for a parsed MM output.
  EXPECT_DOUBLE_EQ(members[0].reward, (1.25 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(members[1].reward, (0.25 + 1.25) / 2);
  EXPECT_DOUBLE_EQ(members[2].reward, (0.25 + 0.25) / 2);
  EXPECT_DOUBLE_EQ(members[3].reward, (0.0 + 1.0) / 2);

  ASSERT_EQ(result->trajectories.size(), 4u);
  for (int g = 0; g < 4; ++g) {
    const v1::Trajectory& trajectory = result->trajectories[g];
    EXPECT_TRUE(learner::ValidateTrajectory(trajectory, 256).ok()) << g;
    EXPECT_EQ(trajectory.agent(), v1::AGENT_KIND_MEMORY_MANAGER);
    EXPECT_EQ(trajectory.group_id(), "ep-1");
    EXPECT_EQ(trajectory.policy_version(), 7);
    EXPECT_DOUBLE_EQ(trajectory.reward(), members[g].reward);
    EXPECT_EQ(trajectory.episode().conversation_id(), "conv-test");
    EXPECT_EQ(trajectory.episode().turn_index(), 3);
    EXPECT_EQ(trajectory.episode().actor_id(), "actor-0");
    EXPECT_EQ(trajectory.episode().work_unit_id(), "wu-1");
    EXPECT_EQ(std::string(trajectory.response_ids().begin(), trajectory.response_ids().end()),
              members[g].completion);
  }
  EXPECT_EQ(result->trajectories[0].episode().annotations().at("ops"),
            "UPDATE m1 'Maya: I live in Lisbon.'");
  EXPECT_EQ(result->trajectories[2].episode().annotations().at("ops"), "DELETE m1");
  EXPECT_TRUE(absl::StartsWith(result->trajectories[3].episode().annotations().at("failure"),
                               "malformed_json"));
  EXPECT_EQ(result->trajectories[0].episode().annotations().count("failure"), 0u);
  EXPECT_NE(result->trajectories[0].id(), result->trajectories[1].id());
  EXPECT_EQ(MetricValue("memr1_actor_format_failures_total",
                        {"agent=\"memory_manager\"", "kind=\"malformed_json\""}),
            failures_before + 1);

  ExpectBaseUnchanged();
  ExpectForksDropped("ep-1", 4);
}

TEST_F(EpisodesTest, ManagerEpisodeAtTurnZeroStartsFromAnEmptyBank) {
  ScriptedPolicy manager(MemberManager);
  ScriptedPolicy answerer(FrozenAnswerer);
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.25);
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  ManagerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.base_bank = base_bank_;
  spec.turn = 0;
  spec.episode_id = "ep-0";
  spec.seed = kManagerSeed;
  ASSERT_THAT(ManagerEpisodeTurns(conversation_), ElementsAre(0, 2, 3));
  absl::StatusOr<EpisodeResult> result = runner->RunManagerEpisode(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->question_ids, ElementsAre("conv-test/qa3"));
  // Nothing existed before the first turn, so nothing was shown.
  EXPECT_TRUE(ReadManagerPrompt(manager.requests()[0]).shown.empty());
  const auto& members = result->members;
  ASSERT_EQ(members.size(), 4u);
  for (int g = 0; g < 4; ++g) {
    if (g % 2 == 0) {
      ASSERT_EQ(members[g].ops.size(), 1u);
      EXPECT_EQ(members[g].ops[0].event(), v1::ADD);
      EXPECT_EQ(members[g].ops[0].text(), "Maya: I live in Porto.");
      EXPECT_THAT(members[g].answers, ElementsAre("Porto"));
      EXPECT_DOUBLE_EQ(members[g].reward, 1.25);
    } else {
      EXPECT_TRUE(members[g].ops.empty());
      EXPECT_THAT(members[g].answers, ElementsAre("I don't know"));
      EXPECT_DOUBLE_EQ(members[g].reward, 0.25);
    }
    EXPECT_EQ(result->trajectories[g].episode().turn_index(), 0);
  }
  ExpectBaseUnchanged();
  ExpectForksDropped("ep-0", 4);
}

TEST_F(EpisodesTest, ManagerEpisodeFailingMidwayDropsItsForks) {
  ScriptedPolicy manager(MemberManager);
  ScriptedPolicy answerer([](const PolicyRequest&) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("answer server down");
  });
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.0);
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  ManagerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.base_bank = base_bank_;
  spec.turn = 3;
  spec.episode_id = "ep-fail";
  spec.seed = kManagerSeed;
  absl::StatusOr<EpisodeResult> result = runner->RunManagerEpisode(spec);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "ep-fail")) << result.status();
  ExpectBaseUnchanged();
  ExpectForksDropped("ep-fail", 4);
}

TEST_F(EpisodesTest, ManagerEpisodeRemakesAForkLeftByAnEarlierAttempt) {
  v1::ForkRequest stale;
  stale.set_source_bank(base_bank_);
  stale.set_bank(MemberBankName(base_bank_, "ep-again", 0));
  stale.set_ttl_seconds(0);
  ASSERT_TRUE(memstore_.router->Fork(stale).ok());  // the latest state, not the one at turn 3
  ScriptedPolicy manager(MemberManager);
  ScriptedPolicy answerer(FrozenAnswerer);
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.25);
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  ManagerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.base_bank = base_bank_;
  spec.turn = 3;
  spec.episode_id = "ep-again";
  spec.seed = kManagerSeed;
  absl::StatusOr<EpisodeResult> result = runner->RunManagerEpisode(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_DOUBLE_EQ(result->members[0].reward, 0.75);  // as from the state at turn 3
  ExpectForksDropped("ep-again", 4);
}

TEST_F(EpisodesTest, ManagerEpisodeRejectsTurnsWithoutQuestionsAndDecidesOnNoFacts) {
  ScriptedPolicy manager(MemberManager);
  ScriptedPolicy answerer(FrozenAnswerer);
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.0);
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  ManagerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.base_bank = base_bank_;
  spec.turn = 1;
  spec.episode_id = "ep-x";
  absl::StatusOr<EpisodeResult> result = runner->RunManagerEpisode(spec);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(result.status().message(), "conv-test")) << result.status();
  EXPECT_TRUE(absl::StrContains(result.status().message(), "turn 1")) << result.status();
  spec.turn = 99;
  EXPECT_EQ(runner->RunManagerEpisode(spec).status().code(), absl::StatusCode::kInvalidArgument);
  spec.turn = 3;
  spec.base_bank = base_bank_ + "/x";
  EXPECT_EQ(runner->RunManagerEpisode(spec).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(manager.requests().empty());

  // LLM extraction that finds nothing in the turn: still a whole group, deciding on no facts.
  ScriptedPolicy extractor(
      [](const PolicyRequest&) -> absl::StatusOr<std::string> { return std::string("[]"); });
  ScriptedPolicy quiet_manager([](const PolicyRequest&) -> absl::StatusOr<std::string> {
    return std::string(R"({"memory": []})");
  });
  EpisodeOptions options = Options();
  options.llm_extraction = true;
  std::unique_ptr<EpisodeRunner> llm =
      MakeRunner(&extractor, &quiet_manager, &answerer, &*scorer, options);
  spec.base_bank = base_bank_;
  result = llm->RunManagerEpisode(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->members.size(), 4u);
  EXPECT_EQ(result->trajectories.size(), 4u);
  EXPECT_THAT(extractor.batch_sizes(), ElementsAre(1));
  EXPECT_EQ(extractor.requests()[0].sampling.temperature, 0.0);
  EXPECT_TRUE(manager.requests().empty());
  ASSERT_EQ(quiet_manager.requests().size(), 4u);
  EXPECT_TRUE(absl::StrContains(quiet_manager.requests()[0].messages.back().content, "[]"));
  for (const MemberOutcome& member : result->members) EXPECT_TRUE(member.ops.empty());
  ExpectForksDropped("ep-x", 4);
}

constexpr uint64_t kAnswerSeed = 200;

TEST_F(EpisodesTest, AnswerEpisodeScoresEachSampledAnswer) {
  ScriptedPolicy manager(MemberManager);
  ScriptedPolicy answerer(
      [](const PolicyRequest& request) -> absl::StatusOr<std::string> {
        switch (request.sampling.seed - kAnswerSeed) {
          case 0:
            return std::string("Maya: I live in Lisbon.\n**Answer:** Lisbon");
          case 1:
            return std::string("**Answer:** Porto");
          case 2:
            return std::string("She lives in\nLisbon");  // no marker
          default:
            return std::string("- [9 June, 2023] Maya: I live in Lisbon.\n**Answer:** lisbon.");
        }
      },
      nullptr, /*version=*/2);
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::EXACT_MATCH, 0.5);
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  const double failures_before = MetricValue(
      "memr1_actor_format_failures_total", {"agent=\"answer_agent\"", "kind=\"no_answer_marker\""});
  AnswerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.bank = base_bank_;
  spec.question = &conversation_.qa[0];  // "Where does Maya live?" -> Lisbon
  spec.episode_id = "aa-1";
  spec.seed = kAnswerSeed;
  spec.work_unit_id = "wu-2";
  absl::StatusOr<EpisodeResult> result = runner->RunAnswerEpisode(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_THAT(result->question_ids, ElementsAre("conv-test/qa0"));
  EXPECT_THAT(answerer.batch_sizes(), ElementsAre(4));
  EXPECT_TRUE(manager.requests().empty());
  for (int g = 0; g < 4; ++g) EXPECT_EQ(answerer.requests()[g].sampling.seed, kAnswerSeed + g);
  // The prompt shows the bank's latest state.
  EXPECT_TRUE(absl::StrContains(answerer.requests()[0].messages.back().content,
                                "[9 June, 2023] Maya: I live in Lisbon."));

  const auto& members = result->members;
  ASSERT_EQ(members.size(), 4u);
  EXPECT_THAT(members[0].answers, ElementsAre("Lisbon"));
  EXPECT_THAT(members[1].answers, ElementsAre("Porto"));
  EXPECT_THAT(members[2].answers, ElementsAre("Lisbon"));  // the fallback: the last line
  EXPECT_THAT(members[3].answers, ElementsAre("lisbon"));
  EXPECT_DOUBLE_EQ(members[0].reward, 1.5);
  EXPECT_DOUBLE_EQ(members[1].reward, 0.5);
  EXPECT_DOUBLE_EQ(members[2].reward, 1.0);  // right, but no format reward
  EXPECT_DOUBLE_EQ(members[3].reward, 1.5);
  ASSERT_TRUE(members[2].failure.has_value());
  EXPECT_EQ(members[2].failure->kind, FormatFailureKind::kNoAnswerMarker);
  EXPECT_THAT(members[0].selected_ids, ElementsAre("m1"));
  EXPECT_THAT(members[3].selected_ids, ElementsAre("m1"));
  EXPECT_EQ(MetricValue("memr1_actor_format_failures_total",
                        {"agent=\"answer_agent\"", "kind=\"no_answer_marker\""}),
            failures_before + 1);

  ASSERT_EQ(result->trajectories.size(), 4u);
  for (int g = 0; g < 4; ++g) {
    const v1::Trajectory& trajectory = result->trajectories[g];
    EXPECT_TRUE(learner::ValidateTrajectory(trajectory, 256).ok()) << g;
    EXPECT_EQ(trajectory.agent(), v1::AGENT_KIND_ANSWER_AGENT);
    EXPECT_EQ(trajectory.group_id(), "aa-1");
    EXPECT_EQ(trajectory.policy_version(), 2);
    EXPECT_DOUBLE_EQ(trajectory.reward(), members[g].reward);
    EXPECT_EQ(trajectory.episode().question_id(), "conv-test/qa0");
    EXPECT_EQ(trajectory.episode().conversation_id(), "conv-test");
    EXPECT_EQ(trajectory.episode().work_unit_id(), "wu-2");
    EXPECT_EQ(trajectory.episode().annotations().at("gold"), "Lisbon");
    EXPECT_EQ(trajectory.episode().annotations().at("answer"), members[g].answers[0]);
  }
  EXPECT_EQ(result->trajectories[0].episode().annotations().at("selected_ids"), "m1");
  EXPECT_EQ(result->trajectories[1].episode().annotations().at("selected_ids"), "");
}

TEST_F(EpisodesTest, AnswerEpisodeWithF1Reward) {
  ScriptedPolicy manager(MemberManager);
  ScriptedPolicy answerer([](const PolicyRequest& request) -> absl::StatusOr<std::string> {
    return std::string(request.sampling.seed % 2 == 0 ? "**Answer:** Maya lives in Lisbon"
                                                      : "**Answer:** Porto");
  });
  absl::StatusOr<RewardScorer> scorer = RewardScorer::Create(v1::ActorConfig::F1, 0.0);
  std::unique_ptr<EpisodeRunner> runner =
      MakeRunner(nullptr, &manager, &answerer, &*scorer, Options());
  AnswerEpisodeSpec spec;
  spec.conversation = &conversation_;
  spec.bank = base_bank_;
  spec.question = &conversation_.qa[0];
  spec.episode_id = "aa-f1";
  spec.seed = 0;
  absl::StatusOr<EpisodeResult> result = runner->RunAnswerEpisode(spec);
  ASSERT_TRUE(result.ok()) << result.status();
  // {maya, lives, in, lisbon} vs {lisbon}: precision 1/4, recall 1.
  EXPECT_DOUBLE_EQ(result->members[0].reward, 0.4);
  EXPECT_DOUBLE_EQ(result->members[1].reward, 0.0);
  EXPECT_DOUBLE_EQ(result->members[2].reward, 0.4);
  EXPECT_DOUBLE_EQ(result->members[3].reward, 0.0);
}

}  // namespace
}  // namespace memr1::actor
