// FindJsonValue and Excerpt (output_format.h), the fact parser (fact_extraction.h) and the
// prompt templates (prompts.h).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "actor/fact_extraction.h"
#include "actor/output_format.h"
#include "actor/prompts.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

nlohmann::json Json(const char* text) { return nlohmann::json::parse(text); }

TEST(FindJsonValueTest, FencedObject) {
  const Parsed<nlohmann::json> found = FindJsonValue("```json\n{\"a\": 1}\n```\n");
  ASSERT_TRUE(found.ok()) << found.failure->detail;
  EXPECT_EQ(*found.value, Json(R"({"a": 1})"));
}

TEST(FindJsonValueTest, ProseAroundAndBracketsInProse) {
  const Parsed<nlohmann::json> found =
      FindJsonValue("Here [see below] {is} it: [\"x\", {\"y\": \"}]\\\"\"}] and done {");
  ASSERT_TRUE(found.ok()) << found.failure->detail;
  EXPECT_EQ(*found.value, Json(R"(["x", {"y": "}]\""}])"));
}

TEST(FindJsonValueTest, FirstValueThatParsesWins) {
  const Parsed<nlohmann::json> found = FindJsonValue("{\"a\": 1,} then {\"b\": 2} then [3]");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found.value, Json(R"({"b": 2})"));
}

TEST(FindJsonValueTest, ValuesInsideAFailedValueAreNotAnswers) {
  // A trailing comma fails the outer object; its inner object must not become the result.
  Parsed<nlohmann::json> found = FindJsonValue(R"({"memory": [{"id": "0"},]})");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.failure->kind, FormatFailureKind::kMalformedJson);
  EXPECT_THAT(found.failure->detail, HasSubstr("does not parse"));
  // Likewise a truncated output.
  found = FindJsonValue(R"(ok: {"memory": [{"id": "0", "event": "NONE"}, {"id": "1")");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.failure->kind, FormatFailureKind::kMalformedJson);
  EXPECT_THAT(found.failure->detail, HasSubstr("unterminated"));
}

TEST(FindJsonValueTest, NoBracketsIsNoJson) {
  const Parsed<nlohmann::json> found = FindJsonValue("nothing to see");
  ASSERT_FALSE(found.ok());
  EXPECT_EQ(found.failure->kind, FormatFailureKind::kNoJson);
  EXPECT_THAT(found.failure->detail, HasSubstr("nothing to see"));
  EXPECT_EQ(FindJsonValue("").failure->kind, FormatFailureKind::kNoJson);
}

TEST(FindJsonValueTest, BracketsThatNeverParseAreMalformed) {
  EXPECT_EQ(FindJsonValue("see [a] and {x}").failure->kind, FormatFailureKind::kMalformedJson);
  EXPECT_EQ(FindJsonValue("{'a': 1}").failure->kind, FormatFailureKind::kMalformedJson);
  EXPECT_EQ(FindJsonValue("[1, 2}").failure->kind, FormatFailureKind::kMalformedJson);
}

TEST(FindJsonValueTest, ScalarsAndEmptyContainers) {
  EXPECT_EQ(*FindJsonValue("[]").value, Json("[]"));
  EXPECT_EQ(*FindJsonValue("x {} y").value, Json("{}"));
  EXPECT_EQ(*FindJsonValue("[-1.5, true, null]").value, Json("[-1.5, true, null]"));
}

TEST(FindJsonValueTest, InvalidUtf8DoesNotCrash) {
  const Parsed<nlohmann::json> found = FindJsonValue("{\"a\": \"\xff\xfe\"}");
  EXPECT_FALSE(found.ok());
  EXPECT_EQ(found.failure->kind, FormatFailureKind::kMalformedJson);
}

TEST(ExcerptTest, ShortTextStaysOnOneLine) {
  EXPECT_EQ(Excerpt("a\n  b\tc "), "a b c");
}

TEST(ExcerptTest, LongTextIsCutAtACharacterBoundary) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "é";  // 2 bytes each
  const std::string excerpt = Excerpt(text);
  EXPECT_LE(excerpt.size(), 120u);
  ASSERT_GE(excerpt.size(), 3u);
  EXPECT_EQ(excerpt.substr(excerpt.size() - 3), "...");
  const std::string body = excerpt.substr(0, excerpt.size() - 3);
  EXPECT_EQ(body.size() % 2, 0u);
  EXPECT_EQ(text.substr(0, body.size()), body);
}

TEST(FormatFailureNameTest, EveryKindHasADistinctName) {
  std::set<std::string> names;
  for (FormatFailureKind kind :
       {FormatFailureKind::kNoJson, FormatFailureKind::kMalformedJson,
        FormatFailureKind::kWrongShape, FormatFailureKind::kUnknownEvent,
        FormatFailureKind::kUnknownId, FormatFailureKind::kDeleteNotShown,
        FormatFailureKind::kMissingText, FormatFailureKind::kConflictingOps,
        FormatFailureKind::kNoAnswerMarker, FormatFailureKind::kEmptyAnswer}) {
    names.insert(FormatFailureName(kind));
  }
  EXPECT_EQ(names.size(), 10u);
  EXPECT_STREQ(FormatFailureName(FormatFailureKind::kDeleteNotShown), "delete_not_shown");
}

// --- facts ---------------------------------------------------------------------------------

TEST(ParseFactsTest, PlainList) {
  const Parsed<std::vector<std::string>> facts =
      ParseFacts(R"(["Maya lives in Porto", "  Sam has a dog  "])", 8);
  ASSERT_TRUE(facts.ok());
  EXPECT_THAT(*facts.value, ElementsAre("Maya lives in Porto", "Sam has a dog"));
}

TEST(ParseFactsTest, FactsObjectInFencesWithProse) {
  const Parsed<std::vector<std::string>> facts =
      ParseFacts("Sure!\n```json\n{\"facts\": [\"Maya moved to Lisbon\"]}\n```", 8);
  ASSERT_TRUE(facts.ok());
  EXPECT_THAT(*facts.value, ElementsAre("Maya moved to Lisbon"));
}

TEST(ParseFactsTest, EmptyListIsValid) {
  const Parsed<std::vector<std::string>> facts = ParseFacts(R"({"facts": []})", 8);
  ASSERT_TRUE(facts.ok());
  EXPECT_THAT(*facts.value, IsEmpty());
}

TEST(ParseFactsTest, DuplicatesAndEmptiesAreDropped) {
  int dropped = -1;
  const Parsed<std::vector<std::string>> facts =
      ParseFacts(R"(["a", " a ", "", "  ", "b", "a"])", 8, &dropped);
  ASSERT_TRUE(facts.ok());
  EXPECT_THAT(*facts.value, ElementsAre("a", "b"));
  EXPECT_EQ(dropped, 0);  // only facts over max_facts count as dropped
}

TEST(ParseFactsTest, MaxFactsKeepsTheFirstAndCountsTheRest) {
  int dropped = -1;
  const Parsed<std::vector<std::string>> facts =
      ParseFacts(R"(["a", "b", "c", "b", "d"])", 2, &dropped);
  ASSERT_TRUE(facts.ok());
  EXPECT_THAT(*facts.value, ElementsAre("a", "b"));
  EXPECT_EQ(dropped, 2);  // "c" and "d"; the repeated "b" is a duplicate, not an overflow
  EXPECT_TRUE(ParseFacts(R"(["a", "b", "c"])", 2).ok());  // null `dropped` is fine
}

TEST(ParseFactsTest, NonStringElementIsWrongShape) {
  const Parsed<std::vector<std::string>> facts = ParseFacts(R"(["a", {"fact": "b"}])", 8);
  ASSERT_FALSE(facts.ok());
  EXPECT_EQ(facts.failure->kind, FormatFailureKind::kWrongShape);
  EXPECT_THAT(facts.failure->detail, HasSubstr("facts[1]"));
}

TEST(ParseFactsTest, OtherShapesFail) {
  EXPECT_EQ(ParseFacts(R"({"memory": []})", 8).failure->kind, FormatFailureKind::kWrongShape);
  EXPECT_EQ(ParseFacts(R"({"facts": "a"})", 8).failure->kind, FormatFailureKind::kWrongShape);
  EXPECT_EQ(ParseFacts("no facts here", 8).failure->kind, FormatFailureKind::kNoJson);
  EXPECT_EQ(ParseFacts(R"(["a", "b",])", 8).failure->kind, FormatFailureKind::kMalformedJson);
}

TEST(FactExtractionTest, RequestAndIdentityFact) {
  PromptTemplates templates;
  templates.extraction = "{{date}} | {{speaker}}: {{turn}}";
  TurnContext turn;
  turn.session_time = "8 May, 2023";
  turn.speaker = "Maya";
  turn.text = "I live in Porto.";
  SamplingOptions sampling;
  sampling.temperature = 0;
  const PolicyRequest request = BuildExtractionRequest(templates, turn, sampling);
  ASSERT_EQ(request.messages.size(), 1u);
  EXPECT_EQ(request.messages[0].role, "user");
  EXPECT_EQ(request.messages[0].content, "8 May, 2023 | Maya: I live in Porto.");
  EXPECT_EQ(request.sampling.temperature, 0);
  EXPECT_EQ(IdentityFact(turn), "Maya: I live in Porto.");
}

// --- prompts -------------------------------------------------------------------------------

TEST(PromptTemplatesTest, DefaultsCarryTheirPlaceholders) {
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(v1::ActorConfig());
  ASSERT_TRUE(templates.ok()) << templates.status();
  EXPECT_EQ(templates->extraction, DefaultExtractionPrompt());
  EXPECT_EQ(templates->manager, DefaultManagerPrompt());
  EXPECT_EQ(templates->answer, DefaultAnswerPrompt());
  EXPECT_EQ(templates->answer_marker, "**Answer:**");
  for (const char* p : {"{{speaker}}", "{{date}}", "{{turn}}"}) {
    EXPECT_THAT(templates->extraction, HasSubstr(p));
  }
  for (const char* p : {"{{facts}}", "{{memories}}", "{{speaker}}", "{{date}}"}) {
    EXPECT_THAT(templates->manager, HasSubstr(p));
  }
  for (const char* p :
       {"{{question}}", "{{memories}}", "{{speaker_a}}", "{{speaker_b}}", "{{marker}}"}) {
    EXPECT_THAT(templates->answer, HasSubstr(p));
  }
  // The events and output shapes the parsers accept are what the prompts ask for.
  EXPECT_THAT(templates->extraction, HasSubstr(R"({"facts": [)"));
  for (const char* e : {"ADD", "UPDATE", "DELETE", "NONE", R"({"memory": [)"}) {
    EXPECT_THAT(templates->manager, HasSubstr(e));
  }
}

TEST(PromptTemplatesTest, ConfiguredTemplatesAndMarkerReplaceDefaults) {
  v1::ActorConfig config;
  config.mutable_memory_manager()->set_extraction_prompt("Facts of: {{turn}}");
  config.mutable_memory_manager()->set_manager_prompt("{{facts}} vs {{memories}}");
  config.mutable_answer_agent()->set_answer_prompt("{{question}}\n{{memories}}\n{{marker}}");
  config.mutable_answer_agent()->set_answer_marker("ANSWER:");
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(config);
  ASSERT_TRUE(templates.ok()) << templates.status();
  EXPECT_EQ(templates->extraction, "Facts of: {{turn}}");
  EXPECT_EQ(templates->manager, "{{facts}} vs {{memories}}");
  EXPECT_EQ(templates->answer, "{{question}}\n{{memories}}\n{{marker}}");
  EXPECT_EQ(templates->answer_marker, "ANSWER:");
}

TEST(PromptTemplatesTest, MissingRequiredPlaceholderNamesKeyAndPlaceholder) {
  v1::ActorConfig config;
  config.mutable_answer_agent()->set_answer_prompt("Answer {{question}} please.");
  absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(config);
  ASSERT_EQ(templates.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(templates.status().message(), HasSubstr("actor.answer_agent.answer_prompt"));
  EXPECT_THAT(templates.status().message(), HasSubstr("{{memories}}"));

  config.Clear();
  config.mutable_memory_manager()->set_extraction_prompt("{{speaker}} said something");
  templates = PromptTemplates::FromConfig(config);
  ASSERT_EQ(templates.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(templates.status().message(), HasSubstr("actor.memory_manager.extraction_prompt"));
  EXPECT_THAT(templates.status().message(), HasSubstr("{{turn}}"));
}

TEST(PromptTemplatesTest, UnknownPlaceholderNamesKeyAndPlaceholder) {
  v1::ActorConfig config;
  config.mutable_memory_manager()->set_manager_prompt("{{facts}} {{memories}} {{question}}");
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(config);
  ASSERT_EQ(templates.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(templates.status().message(), HasSubstr("actor.memory_manager.manager_prompt"));
  EXPECT_THAT(templates.status().message(), HasSubstr("{{question}}"));
}

TEST(PromptTemplatesTest, JsonBracesAreNotPlaceholders) {
  v1::ActorConfig config;
  config.mutable_memory_manager()->set_manager_prompt(
      R"({{facts}} {{memories}} reply {"memory": [{"id": "0", "x": {"y": 1}}]} {{ spaced }})");
  EXPECT_TRUE(PromptTemplates::FromConfig(config).ok());
}

TEST(PromptTemplatesTest, MultiLineMarkerIsRejected) {
  v1::ActorConfig config;
  config.mutable_answer_agent()->set_answer_marker("Answer\n:");
  const absl::StatusOr<PromptTemplates> templates = PromptTemplates::FromConfig(config);
  ASSERT_EQ(templates.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(templates.status().message(), HasSubstr("actor.answer_agent.answer_marker"));
}

TEST(RenderTemplateTest, ReplacesKnownNamesOnceAndKeepsOthers) {
  EXPECT_EQ(RenderTemplate("{{a}}-{{b}}-{{a}}-{{c}}-{x}",
                           {{"a", "1"}, {"b", "{{a}}"}}),
            "1-{{a}}-1-{{c}}-{x}");
  EXPECT_EQ(RenderTemplate("", {{"a", "1"}}), "");
  EXPECT_EQ(RenderTemplate("{{{a}}}", {{"a", "1"}}), "{1}");
}

}  // namespace
}  // namespace memr1::actor
