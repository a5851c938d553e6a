// ParseAnswerOutput / FallbackAnswer and BuildAnswerRequest's rendering (answer_agent.h); the
// budget rule against a real policy's token counts is in agents_retrieval_test.cc.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "actor/answer_agent.h"
#include "actor/prompts.h"

namespace memr1::actor {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kMarker[] = "**Answer:**";

ShownMemory Memory(const std::string& id, const std::string& text,
                   const std::string& time = "8 May, 2023", double score = 1.0) {
  ShownMemory memory;
  memory.id = id;
  memory.text = text;
  memory.session_time = time;
  memory.score = score;
  return memory;
}

std::vector<ShownMemory> Shown() {
  return {Memory("m1", "Maya lives in Porto"), Memory("m4", "Maya moved to Lisbon", "9 June, 2023"),
          Memory("m2", "Sam has a dog named Rex")};
}

TEST(AnswerParserTest, MarkerPresent) {
  const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(
      "- [9 June, 2023] Maya moved to Lisbon\n\n**Answer:** Lisbon\n", kMarker, Shown());
  ASSERT_TRUE(parsed.ok()) << parsed.failure->detail;
  EXPECT_EQ(parsed.value->answer, "Lisbon");
  EXPECT_THAT(parsed.value->selected_lines, ElementsAre("Maya moved to Lisbon"));
  EXPECT_THAT(parsed.value->selected_ids, ElementsAre("m4"));
}

TEST(AnswerParserTest, MarkerMissingIsAFailureWithFallback) {
  const std::string output = "Maya moved to Lisbon.\nShe lives in Lisbon now.\n  \n";
  const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(output, kMarker, Shown());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.failure->kind, FormatFailureKind::kNoAnswerMarker);
  EXPECT_THAT(parsed.failure->detail, HasSubstr("**Answer:**"));
  EXPECT_EQ(FallbackAnswer(output), "She lives in Lisbon now.");
  EXPECT_EQ(FallbackAnswer(""), "");
}

TEST(AnswerParserTest, RepeatedMarkerTakesTheLastAnswerAndLinesBeforeTheFirst) {
  const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(
      "1. Maya lives in Porto\n**Answer:** Porto\nWait, she moved.\n2. Maya moved to Lisbon\n"
      "**Answer:** Lisbon",
      kMarker, Shown());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value->answer, "Lisbon");
  EXPECT_THAT(parsed.value->selected_lines, ElementsAre("Maya lives in Porto"));
  EXPECT_THAT(parsed.value->selected_ids, ElementsAre("m1"));
}

TEST(AnswerParserTest, BulletsNumbersAndTimestampsAreStripped) {
  const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(
      "Relevant memories:\n"
      "- [8 May, 2023] maya   LIVES in porto\n"
      "* Sam has a dog named Rex\n"
      "2) [9 June, 2023] Maya moved to Lisbon\n"
      "\xE2\x80\xA2 Maya lives in Porto\n"  // a repeat maps to no new id
      "10. Something the model made up\n"
      "**Answer:** Lisbon",
      kMarker, Shown());
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed.value->selected_lines,
              ElementsAre("Relevant memories:", "maya   LIVES in porto", "Sam has a dog named Rex",
                          "Maya moved to Lisbon", "Maya lives in Porto",
                          "Something the model made up"));
  EXPECT_THAT(parsed.value->selected_ids, ElementsAre("m1", "m2", "m4"));
}

TEST(AnswerParserTest, QuotesEmphasisAndTrailingPeriodAreTrimmed) {
  for (const char* output :
       {"**Answer:** \"Lisbon.\"", "**Answer:**   Lisbon.  ", "**Answer:** 'Lisbon'.",
        "**Answer:** **Lisbon**", "**Answer:** \xE2\x80\x9CLisbon\xE2\x80\x9D",
        "**Answer:**\n\nLisbon\nmore text", "**answer:** Lisbon"}) {
    SCOPED_TRACE(output);
    const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(output, kMarker, {});
    ASSERT_TRUE(parsed.ok()) << parsed.failure->detail;
    EXPECT_EQ(parsed.value->answer, "Lisbon");
    EXPECT_THAT(parsed.value->selected_lines, IsEmpty());
    EXPECT_THAT(parsed.value->selected_ids, IsEmpty());
  }
  // Inner punctuation stays.
  const Parsed<ParsedAnswer> parsed = ParseAnswerOutput("**Answer:** 7 May 2023, in Lisbon.", kMarker, {});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value->answer, "7 May 2023, in Lisbon");
}

TEST(AnswerParserTest, AnswerEndsAtItsLine) {
  const Parsed<ParsedAnswer> parsed =
      ParseAnswerOutput("**Answer:** Lisbon\nBecause she moved there.", kMarker, {});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value->answer, "Lisbon");
}

TEST(AnswerParserTest, EmptyAnswerIsAFailure) {
  for (const char* output : {"- Maya moved to Lisbon\n**Answer:**", "**Answer:**  \"\" \n\n",
                             "**Answer:** ."}) {
    SCOPED_TRACE(output);
    const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(output, kMarker, Shown());
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.failure->kind, FormatFailureKind::kEmptyAnswer);
  }
}

TEST(AnswerParserTest, CustomMarker) {
  const Parsed<ParsedAnswer> parsed =
      ParseAnswerOutput("Maya moved to Lisbon\nFINAL => Lisbon", "FINAL =>", Shown());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed.value->answer, "Lisbon");
  EXPECT_THAT(parsed.value->selected_ids, ElementsAre("m4"));
  EXPECT_FALSE(ParseAnswerOutput("**Answer:** Lisbon", "FINAL =>", Shown()).ok());
}

AnswerInput SampleInput() {
  AnswerInput input;
  input.question = "Where does Maya live?";
  input.speaker_a = "Maya";
  input.speaker_b = "Sam";
  input.memories_a = {Memory("m4", "Maya moved\nto Lisbon", "9 June, 2023", 2.0),
                      Memory("m1", "Maya lives in Porto", "", 1.0)};
  input.memories_b = {};
  return input;
}

TEST(AnswerRequestTest, RendersOneSectionPerSpeaker) {
  PromptTemplates templates;
  templates.answer = "{{speaker_a}}&{{speaker_b}}\n{{memories}}\nQ: {{question}} {{marker}}";
  SamplingOptions sampling;
  sampling.max_tokens = 9;
  const absl::StatusOr<AnswerRequest> request =
      BuildAnswerRequest(templates, SampleInput(), sampling, /*budget=*/nullptr);
  ASSERT_TRUE(request.ok()) << request.status();
  ASSERT_EQ(request->request.messages.size(), 1u);
  EXPECT_EQ(request->request.messages[0].role, "user");
  EXPECT_EQ(request->request.messages[0].content,
            "Maya&Sam\n"
            "Memories of Maya:\n"
            "[9 June, 2023] Maya moved to Lisbon\n"
            "Maya lives in Porto\n"
            "\n"
            "Memories of Sam:\n"
            "(none)\n"
            "Q: Where does Maya live? **Answer:**");
  EXPECT_EQ(request->request.sampling.max_tokens, 9);
  ASSERT_EQ(request->shown.size(), 2u);
  EXPECT_EQ(request->shown[0].id, "m4");
  EXPECT_EQ(request->shown[1].id, "m1");
  EXPECT_EQ(request->dropped_for_budget, 0);
}

TEST(AnswerRequestTest, ALineCopiedFromThePromptMapsBack) {
  PromptTemplates templates;
  templates.answer = "{{memories}} {{question}}";
  const AnswerInput input = SampleInput();
  const absl::StatusOr<AnswerRequest> request =
      BuildAnswerRequest(templates, input, SamplingOptions{}, nullptr);
  ASSERT_TRUE(request.ok());
  // The model copies the rendered line (its line break was flattened); it still maps to m4.
  const Parsed<ParsedAnswer> parsed = ParseAnswerOutput(
      "[9 June, 2023] Maya moved to Lisbon\n**Answer:** Lisbon", kMarker, request->shown);
  ASSERT_TRUE(parsed.ok());
  EXPECT_THAT(parsed.value->selected_ids, ElementsAre("m4"));
}

}  // namespace
}  // namespace memr1::actor
