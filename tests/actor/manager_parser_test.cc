// ParseManagerOutput over a corpus of real-looking Memory Manager outputs
// (tests/actor/testdata/manager_outputs): every file's expected ops or failure kind is in the
// table below, and every file must be in the table (and the other way round), so the corpus
// cannot grow untested. Then BuildManagerRequest's rendering and ToOperations' mapping.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "actor/memory_manager.h"
#include "actor/prompts.h"
#include "tests/actor/test_files.h"

namespace memr1::actor {
namespace {

using ::testing::HasSubstr;

constexpr int kShown = 4;  // the corpus was written against ids "0".."3"

std::string CorpusDir() { return MEMR1_SOURCE_DIR "/tests/actor/testdata/manager_outputs"; }

// "ADD 'text'", "UPDATE 1 'text'", "DELETE 2", "NOOP 0", "NOOP -".
std::string Describe(const ManagerOp& op) {
  switch (op.event) {
    case v1::ADD:
      return absl::StrCat("ADD '", op.text, "'");
    case v1::UPDATE:
      return absl::StrCat("UPDATE ", op.shown_index, " '", op.text, "'");
    case v1::DELETE:
      return absl::StrCat("DELETE ", op.shown_index);
    case v1::NOOP:
      return op.shown_index < 0 ? "NOOP -" : absl::StrCat("NOOP ", op.shown_index);
    default:
      return "?";
  }
}

std::string Describe(const std::vector<ManagerOp>& ops) {
  std::vector<std::string> parts;
  for (const ManagerOp& op : ops) parts.push_back(Describe(op));
  return absl::StrJoin(parts, " | ");
}

// File name -> expected ops (joined by " | ") for ok-*, or "fail:<kind>" for fail-*.
const std::map<std::string, std::string>& Expected() {
  static const auto* expected = new std::map<std::string, std::string>{
      {"ok-fenced-add.txt", "ADD 'Maya moved to Lisbon'"},
      {"ok-prose-around-update.txt", "UPDATE 1 'Maya lives in Lisbon since June 2023'"},
      {"ok-brace-prose-before.txt", "DELETE 2"},
      {"ok-lowercase-events.txt",
       "NOOP 0 | UPDATE 1 'Maya lives in Lisbon' | DELETE 2 | ADD 'Maya works as a nurse'"},
      {"ok-noop-with-and-without-id.txt", "NOOP 3 | NOOP - | NOOP - | NOOP -"},
      {"ok-int-ids.txt", "UPDATE 0 'Maya lives in Lisbon' | DELETE 3 | NOOP 2"},
      {"ok-empty-list.txt", ""},
      {"ok-nested-braces-in-strings.txt",
       "UPDATE 0 'Maya wrote \"{x: [1, 2]}\" on the board }]' | "
       "ADD 'Sam's code uses {{braces}} and [brackets'"},
      {"ok-unicode-text.txt",
       "ADD 'Maya bought a café table in São Paulo — 120 €' | ADD '山田 visited Tōkyō 🗼'"},
      {"ok-add-id-ignored.txt",
       "ADD 'Sam adopted a second dog' | ADD 'Sam's new dog is called Max'"},
      {"ok-first-parsing-json-wins.txt", "DELETE 1"},
      {"ok-mixed-ops.txt",
       "UPDATE 0 'Maya lives in Lisbon' | NOOP 1 | DELETE 2 | ADD 'Maya loves surfing'"},
      {"fail-no_json-prose.txt", "fail:no_json"},
      {"fail-malformed_json-trailing-comma.txt", "fail:malformed_json"},
      {"fail-malformed_json-truncated.txt", "fail:malformed_json"},
      {"fail-malformed_json-single-quotes.txt", "fail:malformed_json"},
      {"fail-malformed_json-mismatched-bracket.txt", "fail:malformed_json"},
      {"fail-wrong_shape-no-memory-key.txt", "fail:wrong_shape"},
      {"fail-wrong_shape-bare-list.txt", "fail:wrong_shape"},
      {"fail-wrong_shape-element-not-object.txt", "fail:wrong_shape"},
      {"fail-wrong_shape-missing-event.txt", "fail:wrong_shape"},
      {"fail-wrong_shape-text-not-string.txt", "fail:wrong_shape"},
      {"fail-unknown_event-merge.txt", "fail:unknown_event"},
      {"fail-unknown_id-update-unknown.txt", "fail:unknown_id"},
      {"fail-unknown_id-update-without-id.txt", "fail:unknown_id"},
      {"fail-unknown_id-real-id.txt", "fail:unknown_id"},
      {"fail-unknown_id-none-not-shown.txt", "fail:unknown_id"},
      {"fail-delete_not_shown-id.txt", "fail:delete_not_shown"},
      {"fail-delete_not_shown-negative.txt", "fail:delete_not_shown"},
      {"fail-delete_not_shown-without-id.txt", "fail:delete_not_shown"},
      {"fail-missing_text-update.txt", "fail:missing_text"},
      {"fail-missing_text-add-blank.txt", "fail:missing_text"},
      {"fail-conflicting_ops-update-delete.txt", "fail:conflicting_ops"},
      {"fail-conflicting_ops-string-and-int.txt", "fail:conflicting_ops"},
  };
  return *expected;
}

TEST(ManagerParserTest, CorpusAndTableNameTheSameFiles) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(CorpusDir())) {
    files.insert(entry.path().filename().string());
  }
  std::set<std::string> table;
  for (const auto& [name, expected] : Expected()) {
    table.insert(name);
    // The name prefix says what kind of case a file is; keep it honest.
    if (expected.rfind("fail:", 0) == 0) {
      EXPECT_EQ(name.rfind(absl::StrCat("fail-", expected.substr(5), "-"), 0), 0u) << name;
    } else {
      EXPECT_EQ(name.rfind("ok-", 0), 0u) << name;
    }
  }
  EXPECT_EQ(files, table);
}

TEST(ManagerParserTest, EveryCorpusFileParsesAsExpected) {
  std::set<std::string> kinds_seen;
  for (const auto& [name, expected] : Expected()) {
    SCOPED_TRACE(name);
    const std::string text = testing::ReadFile(CorpusDir() + "/" + name);
    ASSERT_FALSE(text.empty());
    const Parsed<std::vector<ManagerOp>> parsed = ParseManagerOutput(text, kShown);
    if (expected.rfind("fail:", 0) == 0) {
      ASSERT_FALSE(parsed.ok()) << Describe(*parsed.value);
      ASSERT_TRUE(parsed.failure.has_value());
      EXPECT_EQ(FormatFailureName(parsed.failure->kind), expected.substr(5))
          << parsed.failure->detail;
      EXPECT_FALSE(parsed.failure->detail.empty());
      kinds_seen.insert(FormatFailureName(parsed.failure->kind));
    } else {
      ASSERT_TRUE(parsed.ok()) << FormatFailureName(parsed.failure->kind) << ": "
                               << parsed.failure->detail;
      EXPECT_FALSE(parsed.failure.has_value());
      EXPECT_EQ(Describe(*parsed.value), expected);
    }
  }
  // Every failure kind the Memory Manager can produce is exercised by the corpus.
  EXPECT_EQ(kinds_seen, (std::set<std::string>{"no_json", "malformed_json", "wrong_shape",
                                               "unknown_event", "unknown_id", "delete_not_shown",
                                               "missing_text", "conflicting_ops"}));
}

TEST(ManagerParserTest, OldMemoryIsKept) {
  const Parsed<std::vector<ManagerOp>> parsed = ParseManagerOutput(
      testing::ReadFile(CorpusDir() + "/ok-prose-around-update.txt"), kShown);
  ASSERT_TRUE(parsed.ok());
  ASSERT_EQ(parsed.value->size(), 1u);
  EXPECT_EQ((*parsed.value)[0].old_memory, "Maya lives in Porto");
}

TEST(ManagerParserTest, DetailsNameTheElementTheIdAndTheShownRange) {
  Parsed<std::vector<ManagerOp>> parsed = ParseManagerOutput(
      testing::ReadFile(CorpusDir() + "/fail-unknown_id-update-unknown.txt"), kShown);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.failure->detail, "memory[2]: UPDATE of id \"7\", but only ids 0-3 were shown");

  parsed = ParseManagerOutput(R"({"memory": [{"id": "0", "event": "DELETE"}]})", 0);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.failure->kind, FormatFailureKind::kDeleteNotShown);
  EXPECT_THAT(parsed.failure->detail, HasSubstr("no memories were shown"));

  parsed = ParseManagerOutput(
      testing::ReadFile(CorpusDir() + "/fail-conflicting_ops-update-delete.txt"), kShown);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.failure->detail, HasSubstr("memory[1] and memory[0]"));

  parsed = ParseManagerOutput(
      testing::ReadFile(CorpusDir() + "/fail-unknown_event-merge.txt"), kShown);
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.failure->detail, HasSubstr("\"MERGE\""));
}

TEST(ManagerParserTest, WithNothingShownOnlyAddsAndIdlessNonesPass) {
  Parsed<std::vector<ManagerOp>> parsed = ParseManagerOutput(
      R"({"memory": [{"id": "0", "text": "A", "event": "ADD"}, {"event": "NONE"}]})", 0);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(Describe(*parsed.value), "ADD 'A' | NOOP -");
  parsed = ParseManagerOutput(R"({"memory": [{"id": "0", "text": "A", "event": "UPDATE"}]})", 0);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.failure->kind, FormatFailureKind::kUnknownId);
}

TEST(ManagerParserTest, FloatIdsAreNotShownIds) {
  const Parsed<std::vector<ManagerOp>> parsed =
      ParseManagerOutput(R"({"memory": [{"id": 1.5, "text": "A", "event": "UPDATE"}]})", kShown);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.failure->kind, FormatFailureKind::kUnknownId);
}

ManagerInput SampleInput() {
  ManagerInput input;
  input.turn.index = 3;
  input.turn.session = 2;
  input.turn.session_time = "9 June, 2023";
  input.turn.speaker = "Maya";
  input.turn.dia_id = "D2:1";
  input.turn.text = "I moved to Lisbon.";
  input.facts = {"Maya moved to Lisbon", "Maya said \"olá\""};
  ShownMemory porto;
  porto.id = "m1";
  porto.text = "Maya lives in Porto";
  ShownMemory rex;
  rex.id = "m3";
  rex.text = "Sam has a dog named Rex";
  input.shown = {porto, rex};
  return input;
}

// The rendered {{facts}} and {{memories}} sections are JSON the test reads back.
TEST(ManagerRequestTest, FactsAndNumberedMemoriesAreJson) {
  PromptTemplates templates;
  templates.manager = "F={{facts}}\nM={{memories}}\nS={{speaker}} D={{date}}";
  SamplingOptions sampling;
  sampling.max_tokens = 77;
  const PolicyRequest request = BuildManagerRequest(templates, SampleInput(), sampling);
  ASSERT_EQ(request.messages.size(), 1u);
  EXPECT_EQ(request.messages[0].role, "user");
  EXPECT_EQ(request.sampling.max_tokens, 77);
  const std::string& content = request.messages[0].content;
  const size_t m = content.find("\nM=");
  const size_t s = content.find("\nS=");
  ASSERT_NE(m, std::string::npos);
  ASSERT_NE(s, std::string::npos);
  const nlohmann::json facts = nlohmann::json::parse(content.substr(2, m - 2));
  EXPECT_EQ(facts, nlohmann::json::parse(R"(["Maya moved to Lisbon", "Maya said \"olá\""])"));
  const nlohmann::json memories = nlohmann::json::parse(content.substr(m + 3, s - m - 3));
  EXPECT_EQ(memories, nlohmann::json::parse(R"([{"id": "0", "text": "Maya lives in Porto"},
                                               {"id": "1", "text": "Sam has a dog named Rex"}])"));
  EXPECT_THAT(content, HasSubstr("S=Maya D=9 June, 2023"));
  // Real ids never reach the model.
  EXPECT_THAT(content, ::testing::Not(HasSubstr("m3")));
}

TEST(ManagerRequestTest, EmptyListsRenderAsEmptyJson) {
  PromptTemplates templates;
  templates.manager = "{{facts}}|{{memories}}";
  ManagerInput input;
  EXPECT_EQ(BuildManagerRequest(templates, input, SamplingOptions{}).messages[0].content, "[]|[]");
}

TEST(ToOperationsTest, MapsShownIndicesToRealIdsWithProvenance) {
  const ManagerInput input = SampleInput();
  const Parsed<std::vector<ManagerOp>> parsed = ParseManagerOutput(
      R"({"memory": [{"id": "0", "text": "Maya lives in Lisbon", "event": "UPDATE"},
                     {"id": "1", "event": "NONE"}, {"event": "NONE"},
                     {"text": "Maya likes Lisbon", "event": "ADD"}]})",
      static_cast<int>(input.shown.size()));
  ASSERT_TRUE(parsed.ok()) << parsed.failure->detail;
  const std::vector<v1::Operation> ops = ToOperations(*parsed.value, input);
  ASSERT_EQ(ops.size(), 3u);  // the id-less NONE is dropped
  EXPECT_EQ(ops[0].event(), v1::UPDATE);
  EXPECT_EQ(ops[0].memory_id(), "m1");
  EXPECT_EQ(ops[0].text(), "Maya lives in Lisbon");
  EXPECT_EQ(ops[0].speaker(), "Maya");
  EXPECT_EQ(ops[0].turn_id(), "D2:1");
  EXPECT_EQ(ops[0].session_time(), "9 June, 2023");
  EXPECT_EQ(ops[1].event(), v1::NOOP);
  EXPECT_EQ(ops[1].memory_id(), "m3");
  EXPECT_EQ(ops[1].text(), "");
  EXPECT_EQ(ops[2].event(), v1::ADD);
  EXPECT_EQ(ops[2].memory_id(), "");
  EXPECT_EQ(ops[2].text(), "Maya likes Lisbon");
  EXPECT_EQ(ops[2].turn_id(), "D2:1");
}

TEST(ToOperationsTest, AddOnlyAddsEveryFact) {
  ManagerInput input = SampleInput();
  input.facts.push_back("   ");
  const std::vector<v1::Operation> ops = AddOnlyOperations(input);
  ASSERT_EQ(ops.size(), 2u);
  for (size_t i = 0; i < ops.size(); ++i) {
    EXPECT_EQ(ops[i].event(), v1::ADD);
    EXPECT_EQ(ops[i].text(), input.facts[i]);
    EXPECT_EQ(ops[i].speaker(), "Maya");
    EXPECT_EQ(ops[i].session_time(), "9 June, 2023");
    EXPECT_EQ(ops[i].turn_id(), "D2:1");
  }
}

}  // namespace
}  // namespace memr1::actor
