// The scripted teacher (actor/teacher.h): its exact completions for prompts the real agents
// build (fact extraction, Memory Manager, Answer Agent) over handcrafted turns and memories of
// every fact kind, that they parse as the agents parse them, and its errors.

#include "actor/teacher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "actor/answer_agent.h"
#include "actor/fact_extraction.h"
#include "actor/memory_manager.h"
#include "actor/prompts.h"
#include "actor/synthetic_world.h"
#include "actor/teacher_grammar.h"
#include "actor/turns.h"

namespace memr1::actor {
namespace {

using ::testing::HasSubstr;

constexpr char kDate[] = "3:15 pm on 8 May, 2023";

PromptTemplates DefaultTemplates() {
  absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(v1::ActorConfig());
  EXPECT_TRUE(templates.ok()) << templates.status();
  return *templates;
}

class TeacherTest : public ::testing::Test {
 protected:
  TeacherTest() : templates_(DefaultTemplates()), teacher_(templates_, Dataset{}) {}

  std::string Respond(const PolicyRequest& request) {
    absl::StatusOr<std::string> out = teacher_.Respond(request.messages);
    EXPECT_TRUE(out.ok()) << out.status();
    return out.ok() ? *out : "";
  }

  std::string Extract(const std::string& text, const std::string& speaker = "Maya") {
    TurnContext turn;
    turn.speaker = speaker;
    turn.session_time = kDate;
    turn.text = text;
    const std::string out = Respond(BuildExtractionRequest(templates_, turn, SamplingOptions()));
    const Parsed<std::vector<std::string>> parsed = ParseFacts(out, 8);
    EXPECT_TRUE(parsed.ok()) << out;
    return out;
  }

  std::string Manage(const std::vector<std::string>& facts,
                     const std::vector<std::string>& memories, const std::string& date = kDate) {
    ManagerInput input;
    input.turn.speaker = "Maya";
    input.turn.session_time = date;
    input.facts = facts;
    for (size_t i = 0; i < memories.size(); ++i) {
      ShownMemory memory;
      memory.id = "m" + std::to_string(i + 10);
      memory.text = memories[i];
      input.shown.push_back(memory);
    }
    const std::string out = Respond(BuildManagerRequest(templates_, input, SamplingOptions()));
    const Parsed<std::vector<ManagerOp>> parsed =
        ParseManagerOutput(out, static_cast<int>(memories.size()));
    EXPECT_TRUE(parsed.ok()) << out << "\n" << (parsed.failure ? parsed.failure->detail : "");
    return out;
  }

  struct Shown {
    std::string time;
    std::string text;
  };

  // The answer completion for `question` over Maya's and Sam's memories (best first); checks
  // that it parses and returns the parsed answer in `answer` and the selected ids in `ids`.
  std::string Answer(const std::string& question, const std::vector<Shown>& maya,
                     const std::vector<Shown>& sam, std::string* answer = nullptr,
                     std::vector<std::string>* ids = nullptr, const Teacher* teacher = nullptr) {
    AnswerInput input;
    input.question = question;
    input.speaker_a = "Maya";
    input.speaker_b = "Sam";
    int next = 0;
    for (const auto& [list, out] : {std::pair{&maya, &input.memories_a},
                                    std::pair{&sam, &input.memories_b}}) {
      for (const Shown& shown : *list) {
        ShownMemory memory;
        memory.id = "m" + std::to_string(next++);
        memory.session_time = shown.time;
        memory.text = shown.text;
        out->push_back(memory);
      }
    }
    absl::StatusOr<AnswerRequest> request =
        BuildAnswerRequest(templates_, input, SamplingOptions(), nullptr);
    EXPECT_TRUE(request.ok()) << request.status();
    absl::StatusOr<std::string> out =
        (teacher != nullptr ? teacher : &teacher_)->Respond(request->request.messages);
    EXPECT_TRUE(out.ok()) << out.status();
    if (!out.ok()) return "";
    const Parsed<ParsedAnswer> parsed =
        ParseAnswerOutput(*out, templates_.answer_marker, request->shown);
    EXPECT_TRUE(parsed.ok()) << *out;
    if (parsed.ok() && answer != nullptr) *answer = parsed.value->answer;
    if (parsed.ok() && ids != nullptr) *ids = parsed.value->selected_ids;
    return *out;
  }

  PromptTemplates templates_;
  Teacher teacher_;
};

// ---------------------------------------------------------------------------------------------
// Fact extraction.

TEST_F(TeacherTest, ExtractsOneDatedFactPerWorldSentence) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"I live in Porto.", "Maya lives in Porto."},
      {"I moved to Lisbon.", "Maya moved to Lisbon on 8 May 2023."},
      {"I still live in Lisbon.", "Maya still lives in Lisbon."},
      {"I work as an engineer.", "Maya works as an engineer."},
      {"I started a new job as a nurse.", "Maya started working as a nurse on 8 May 2023."},
      {"I still work as a nurse.", "Maya still works as a nurse."},
      {"I bought a scooter.", "Maya bought a scooter on 8 May 2023."},
      {"I sold the scooter.", "Maya sold the scooter on 8 May 2023."},
      {"I still have my scooter.", "Maya still owns the scooter."},
      {"I adopted a hamster.", "Maya adopted a hamster on 8 May 2023."},
      {"I gave my hamster away.", "Maya gave away the hamster on 8 May 2023."},
      {"My hamster is doing well.", "Maya still has the hamster."},
      {"My favorite hobby is chess.", "Maya's favorite hobby is chess."},
      {"These days my favorite hobby is yoga.",
       "Maya's favorite hobby changed to yoga on 8 May 2023."},
      {"I still love yoga.", "Maya still loves yoga."},
  };
  for (const auto& [turn, fact] : cases) {
    EXPECT_EQ(Extract(turn), "{\"facts\":[\"" + fact + "\"]}") << turn;
  }
}

TEST_F(TeacherTest, SmallTalkHasNoFacts) {
  EXPECT_EQ(Extract("How was your week?"), "{\"facts\":[]}");
  EXPECT_EQ(Extract("I have been reading a lot lately."), "{\"facts\":[]}");
}

// Every turn of a generated world is either one fact or one of the world's small-talk lines:
// the teacher's grammar covers every sentence the generator writes.
TEST_F(TeacherTest, GrammarCoversEveryTurnOfAGeneratedWorld) {
  const std::set<std::string> small_talk = {
      "How was your week?",       "Pretty busy, but good.",
      "That sounds great!",       "I have been reading a lot lately.",
      "The weather has been lovely.", "Tell me more about it.",
      "I am glad to hear that.",  "Let us catch up again soon.",
      "I had a quiet weekend at home.", "Work has been keeping me busy.",
  };
  SyntheticWorldOptions options;
  options.seed = 11;
  options.conversations = 3;
  absl::StatusOr<Dataset> world = GenerateSyntheticWorld(options);
  ASSERT_TRUE(world.ok()) << world.status();
  int facts = 0;
  for (const Conversation& conversation : world->conversations) {
    for (const TurnContext& turn : FlattenTurns(conversation)) {
      const Parsed<std::vector<std::string>> parsed =
          ParseFacts(Extract(turn.text, turn.speaker), 8);
      ASSERT_TRUE(parsed.ok());
      if (small_talk.count(turn.text) > 0) {
        EXPECT_TRUE(parsed.value->empty()) << turn.text;
      } else {
        EXPECT_EQ(parsed.value->size(), 1u) << turn.text;
        ++facts;
      }
    }
  }
  EXPECT_GT(facts, 50);
}

// ---------------------------------------------------------------------------------------------
// Memory Manager.

TEST_F(TeacherTest, AddsAFactNoMemoryHolds) {
  EXPECT_EQ(Manage({"Maya lives in Porto."}, {}),
            R"({"memory":[{"id":"0","text":"Maya lives in Porto.","event":"ADD"}]})");
  EXPECT_EQ(Manage({"Maya adopted a cat on 8 May 2023."}, {"Sam lives in Paris."}),
            R"({"memory":[{"id":"1","text":"Maya has a cat. Maya adopted a cat on 8 May 2023.",)"
            R"("event":"ADD"}]})");
}

TEST_F(TeacherTest, UpdatesTheMemoryOfTheSamePersonAndSlotKeepingTheOldValueAndDate) {
  EXPECT_EQ(
      Manage({"Maya moved to Lisbon on 8 May 2023."}, {"Sam lives in Paris.",
                                                      "Maya lives in Porto."}),
      R"({"memory":[{"id":"1","text":"Maya lives in Lisbon. Maya moved from Porto to Lisbon on )"
      R"(8 May 2023.","event":"UPDATE","old_memory":"Maya lives in Porto."}]})");
  EXPECT_EQ(
      Manage({"Maya's favorite hobby changed to yoga on 8 May 2023."},
             {"Maya's favorite hobby is chess."}),
      R"({"memory":[{"id":"0","text":"Maya's favorite hobby is yoga. Maya's favorite hobby )"
      R"(changed from chess to yoga on 8 May 2023.","event":"UPDATE","old_memory":"Maya's )"
      R"(favorite hobby is chess."}]})");
}

TEST_F(TeacherTest, IdentityFactsTakeTheirSpeakerAndThePromptsDate) {
  EXPECT_EQ(
      Manage({"Maya: I started a new job as a nurse."}, {"Maya works as a teacher."}),
      R"({"memory":[{"id":"0","text":"Maya works as a nurse. Maya started working as a nurse on )"
      R"(8 May 2023, after working as a teacher.","event":"UPDATE","old_memory":"Maya works )"
      R"(as a teacher."}]})");
  EXPECT_EQ(Manage({"Maya: How was your week?"}, {"Maya lives in Porto."}), R"({"memory":[]})");
}

TEST_F(TeacherTest, RepeatsAreNoops) {
  const std::string memory = "Maya lives in Lisbon. Maya moved from Porto to Lisbon on 8 May 2023.";
  EXPECT_EQ(Manage({"Maya still lives in Lisbon."}, {memory}),
            R"({"memory":[{"id":"0","text":")" + memory + R"(","event":"NONE"}]})");
  EXPECT_EQ(Manage({"Maya still owns the bike."}, {"Maya owns a bike. Maya bought a bike on "
                                                   "8 May 2023."}),
            R"({"memory":[{"id":"0","text":"Maya owns a bike. Maya bought a bike on 8 May )"
            R"(2023.","event":"NONE"}]})");
}

// A retraction keeps the memory (UPDATE): "none" and the sale date both stay answerable.
TEST_F(TeacherTest, RetractionUpdatesToNoneKeepingTheDates) {
  EXPECT_EQ(
      Manage({"Maya sold the bike on 1 June 2023."},
             {"Maya owns a bike. Maya bought a bike on 8 May 2023."}),
      R"({"memory":[{"id":"0","text":"Maya owns no vehicle. Maya bought a bike on 8 May 2023. )"
      R"(Maya sold the bike on 1 June 2023.","event":"UPDATE","old_memory":"Maya owns a bike. )"
      R"(Maya bought a bike on 8 May 2023."}]})");
  EXPECT_EQ(
      Manage({"Maya bought a car on 2 July 2023."},
             {"Maya owns no vehicle. Maya bought a bike on 8 May 2023. Maya sold the bike on 1 "
              "June 2023."}),
      R"({"memory":[{"id":"0","text":"Maya owns a car. Maya bought a bike on 8 May 2023. Maya )"
      R"(sold the bike on 1 June 2023. Maya bought a car on 2 July 2023.","event":"UPDATE",)"
      R"("old_memory":"Maya owns no vehicle. Maya bought a bike on 8 May 2023. Maya sold the )"
      R"(bike on 1 June 2023."}]})");
}

TEST_F(TeacherTest, DuplicatesAreMergedAndDeleted) {
  EXPECT_EQ(
      Manage({"Maya moved to Paris on 3 June 2023."},
             {"Maya lives in Porto.", "Sam lives in Rome.", "Maya: I moved to Lisbon."}),
      R"({"memory":[{"id":"0","text":"Maya lives in Paris. Maya moved from Porto to Lisbon. )"
      R"(Maya moved from Lisbon to Paris on 3 June 2023.","event":"UPDATE","old_memory":"Maya )"
      R"(lives in Porto."},{"id":"2","text":"Maya: I moved to Lisbon.","event":"DELETE"}]})");
}

// ---------------------------------------------------------------------------------------------
// Answer Agent.

class TeacherAnswerTest : public TeacherTest {
 protected:
  const std::vector<Shown> maya_ = {
      {"3:15 pm on 8 May, 2023",
       "Maya lives in Lisbon. Maya moved from Porto to Lisbon on 8 May 2023."},
      {"1:00 pm on 1 June, 2023",
       "Maya owns no vehicle. Maya bought a bike on 2 April 2023. Maya sold the bike on 1 June "
       "2023."},
      {"9:00 am on 2 April, 2023", "Maya works as a chef."},
  };
  const std::vector<Shown> sam_ = {{"9:00 am on 2 April, 2023", "Sam lives in Tokyo."}};
};

TEST_F(TeacherAnswerTest, SelectsTheMemoryAndReadsTheCurrentValue) {
  std::string answer;
  std::vector<std::string> ids;
  EXPECT_EQ(Answer("Where does Maya live?", maya_, sam_, &answer, &ids),
            "[3:15 pm on 8 May, 2023] Maya lives in Lisbon. Maya moved from Porto to Lisbon on "
            "8 May 2023.\n**Answer:** Lisbon");
  EXPECT_EQ(ids, std::vector<std::string>{"m0"});
  EXPECT_EQ(Answer("What vehicle does Maya own?", maya_, sam_, &answer, &ids),
            "[1:00 pm on 1 June, 2023] Maya owns no vehicle. Maya bought a bike on 2 April 2023. "
            "Maya sold the bike on 1 June 2023.\n**Answer:** none");
  EXPECT_EQ(ids, std::vector<std::string>{"m1"});
}

TEST_F(TeacherAnswerTest, AnswersEveryQuestionKindOfTheWorld) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"What is Maya's job?", "chef"},
      {"When did Maya move to Lisbon?", "8 May 2023"},
      {"When did Maya buy a bike?", "2 April 2023"},
      {"When did Maya sell the bike?", "1 June 2023"},
      {"Where did Maya live before moving to Lisbon?", "Porto"},
      {"Where do Maya and Sam live?", "Lisbon, Tokyo"},
      {"What is Maya's job and in which city does Maya live?", "chef, Lisbon"},
      {"Which country does Sam live in?", "Japan"},
      {"What language do people speak where Maya lives?", "Portuguese"},
  };
  for (const auto& [question, expected] : cases) {
    std::string answer;
    Answer(question, maya_, sam_, &answer);
    EXPECT_EQ(answer, expected) << question;
  }
  std::vector<std::string> ids;
  EXPECT_EQ(Answer("What is Maya's job and in which city does Maya live?", maya_, sam_, nullptr,
                   &ids),
            "[3:15 pm on 8 May, 2023] Maya lives in Lisbon. Maya moved from Porto to Lisbon on 8 "
            "May 2023.\n[9:00 am on 2 April, 2023] Maya works as a chef.\n**Answer:** chef, "
            "Lisbon");
  EXPECT_EQ(ids, (std::vector<std::string>{"m0", "m2"}));
}

TEST_F(TeacherAnswerTest, WithoutEvidenceTheAnswerIsUnknown) {
  std::vector<std::string> ids;
  EXPECT_EQ(Answer("What pet does Maya have?", maya_, sam_, nullptr, &ids),
            "**Answer:** unknown");
  EXPECT_TRUE(ids.empty());
  EXPECT_EQ(Answer("When did Maya move to Paris?", maya_, sam_),
            "[3:15 pm on 8 May, 2023] Maya lives in Lisbon. Maya moved from Porto to Lisbon on 8 "
            "May 2023.\n**Answer:** unknown");
}

// ADD-only banks hold every version: the most recent statement wins (the prompt's rule), and
// a move without its old value is read from the statements before it.
TEST_F(TeacherAnswerTest, ReadsAddOnlyBanksByDate) {
  const std::vector<Shown> maya = {
      {"8:00 am on 1 March, 2023", "Maya: I live in Porto."},
      {"8:00 am on 9 May, 2023", "Maya still lives in Lisbon."},
      {"8:00 am on 8 May, 2023", "Maya: I moved to Lisbon."},
  };
  std::string answer;
  Answer("Where does Maya live?", maya, {}, &answer);
  EXPECT_EQ(answer, "Lisbon");
  Answer("Where did Maya live before moving to Lisbon?", maya, {}, &answer);
  EXPECT_EQ(answer, "Porto");
  Answer("When did Maya move to Lisbon?", maya, {}, &answer);
  EXPECT_EQ(answer, "8 May 2023");
}

// Outside the world's grammar the gold answer is looked up: by question within the
// conversations of the prompt's speakers, told apart by the memories' session days.
TEST_F(TeacherAnswerTest, OtherQuestionsGetTheGoldAnswerOfTheirConversation) {
  Dataset dataset;
  for (const auto& [id, day, dog] : {std::tuple{"c1", "8 May, 2023", "Rex"},
                                     std::tuple{"c2", "9 June, 2023", "Max"}}) {
    Conversation conversation;
    conversation.id = id;
    conversation.speaker_a = "Maya";
    conversation.speaker_b = "Sam";
    Session session;
    session.number = 1;
    session.date_time = day;
    conversation.sessions.push_back(session);
    QaItem qa;
    qa.question = "What is the name of Sam's dog?";
    qa.answer = dog;
    conversation.qa.push_back(qa);
    dataset.conversations.push_back(conversation);
  }
  const Teacher teacher(templates_, dataset);
  std::vector<std::string> ids;
  EXPECT_EQ(Answer("What is the name of Sam's dog?", {},
                   {{"8 May, 2023", "Sam: I have a dog named Rex."}}, nullptr, &ids, &teacher),
            "[8 May, 2023] Sam: I have a dog named Rex.\n**Answer:** Rex");
  EXPECT_EQ(ids, std::vector<std::string>{"m0"});
  std::string answer;
  Answer("What is the name of Sam's dog?", {}, {{"9 June, 2023", "Sam has a dog."}}, &answer,
         nullptr, &teacher);
  EXPECT_EQ(answer, "Max");

  AnswerInput input;
  input.question = "What is the name of Sam's dog?";
  input.speaker_a = "Maya";
  input.speaker_b = "Sam";
  absl::StatusOr<AnswerRequest> request =
      BuildAnswerRequest(templates_, input, SamplingOptions(), nullptr);
  ASSERT_TRUE(request.ok());
  absl::StatusOr<std::string> ambiguous = teacher.Respond(request->request.messages);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_THAT(std::string(ambiguous.status().message()),
              HasSubstr("has different gold answers (c1: \"Rex\", c2: \"Max\")"));
  input.question = "Who is Sam's best friend?";
  request = BuildAnswerRequest(templates_, input, SamplingOptions(), nullptr);
  absl::StatusOr<std::string> missing = teacher.Respond(request->request.messages);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("is neither one of the synthetic world's questions nor in the teacher's "
                        "dataset (for speakers Maya and Sam)"));
}

// ---------------------------------------------------------------------------------------------
// Prompts it cannot read, and configured templates.

TEST_F(TeacherTest, AnUnreadablePromptIsAnErrorNamingWhatEachTemplateMissed) {
  absl::StatusOr<std::string> out = teacher_.Respond({{"user", "Where does Maya live?"}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string message(out.status().message());
  EXPECT_THAT(message, HasSubstr("the teacher cannot read the prompt"));
  EXPECT_THAT(message, HasSubstr("not the extraction prompt (expected \"You pick out"));
  EXPECT_THAT(message, HasSubstr("not the manager prompt (expected \"You keep a memory bank"));
  EXPECT_THAT(message, HasSubstr("not the answer prompt (expected \"You answer a question"));
  EXPECT_FALSE(teacher_.Respond({{"system", "hi"}}).ok());
}

TEST_F(TeacherTest, ReadsConfiguredTemplatesAndRejectsPromptsOfOthers) {
  v1::ActorConfig config;
  config.mutable_memory_manager()->set_manager_prompt(
      "Memories: {{memories}}\nFacts of {{speaker}} on {{date}}: {{facts}}\nDecide.");
  absl::StatusOr<PromptTemplates> custom = PromptTemplates::FromConfig(config);
  ASSERT_TRUE(custom.ok()) << custom.status();
  const Teacher teacher(*custom, Dataset{});
  ManagerInput input;
  input.turn.speaker = "Maya";
  input.turn.session_time = kDate;
  input.facts = {"Maya: I moved to Lisbon."};
  ShownMemory memory;
  memory.id = "m1";
  memory.text = "Maya lives in Porto.";
  input.shown = {memory};
  const PolicyRequest request = BuildManagerRequest(*custom, input, SamplingOptions());
  absl::StatusOr<std::string> out = teacher.Respond(request.messages);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            R"({"memory":[{"id":"0","text":"Maya lives in Lisbon. Maya moved from Porto to )"
            R"(Lisbon on 8 May 2023.","event":"UPDATE","old_memory":"Maya lives in Porto."}]})");
  // The default teacher does not know this template.
  absl::StatusOr<std::string> unknown = teacher_.Respond(request.messages);
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(std::string(unknown.status().message()), HasSubstr("not the manager prompt"));
}

// ---------------------------------------------------------------------------------------------
// The grammar's round trip.

TEST(TeacherGrammarTest, MemoryTextsReadBackToTheSameHistory) {
  teacher::SlotHistory history;
  history.person = "Maya";
  history.slot = teacher::Slot::kJob;
  for (const std::string& fact :
       {std::string("Maya works as a teacher."),
        std::string("Maya started working as an engineer on 8 May 2023."),
        std::string("Maya still works as an engineer."),
        std::string("Maya started working as a chef on 1 June 2023.")}) {
    for (teacher::Statement& statement : teacher::ParseStatements(fact, "")) {
      history.Apply(statement);
    }
  }
  const std::string text = teacher::RenderMemory(history);
  EXPECT_EQ(text,
            "Maya works as a chef. Maya started working as an engineer on 8 May 2023, after "
            "working as a teacher. Maya started working as a chef on 1 June 2023, after working "
            "as an engineer.");
  teacher::SlotHistory again;
  again.person = "Maya";
  again.slot = teacher::Slot::kJob;
  for (teacher::Statement& statement : teacher::ParseStatements(text, "")) again.Apply(statement);
  EXPECT_EQ(teacher::RenderMemory(again), text);
  EXPECT_FALSE(teacher::ParseQuestion("Where does maya live?").has_value());
  EXPECT_EQ(teacher::DayOf("1:56 pm on 8 May, 2023"), "8 May 2023");
  EXPECT_FALSE(teacher::DayNumber("31 June 2023").has_value());
}

}  // namespace
}  // namespace memr1::actor
