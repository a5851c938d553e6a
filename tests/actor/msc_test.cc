// MSC-Self-Instruct on files written by the test.

#include "actor/msc.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "tests/actor/test_files.h"

namespace memr1::actor {
namespace {

using testing::WriteTempFile;

constexpr char kRecord1[] =
    R"({"personas": [["I like cats."], ["I run."]], "previous_dialogs": [{"personas": [], )"
    R"("dialog": [{"text": "I have two cats."}, {"text": "I prefer dogs."}], "time_num": 7, )"
    R"("time_unit": "days", "time_back": "7 days ago"}, {"dialog": [{"id": "Speaker 2", )"
    R"("text": "I ran a marathon."}]}], "dialog": [{"id": "Speaker 1", "text": "now"}], )"
    R"("self_instruct": {"A": "How many cats do I have?", "B": "Two."}})";
constexpr char kRecord2[] =
    R"({"previous_dialogs": [{"dialog": [{"text": "Hi"}], "time_num": 3, "time_unit": "hours"}], )"
    R"("self_instruct": {"A": "What year?", "B": 2019}})";

TEST(MscTest, LoadsJsonLines) {
  const std::string path =
      WriteTempFile("msc.jsonl", std::string(kRecord1) + "\n\n" + kRecord2 + "\n");
  auto dataset = LoadMsc(path);
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  ASSERT_EQ(dataset->conversations.size(), 2u);
  const Conversation& first = dataset->conversations[0];
  EXPECT_EQ(first.id, "msc-0");
  ASSERT_EQ(first.sessions.size(), 2u);
  EXPECT_EQ(first.sessions[0].date_time, "7 days ago");
  ASSERT_EQ(first.sessions[0].turns.size(), 2u);
  EXPECT_EQ(first.sessions[0].turns[0].speaker, "Speaker 1");
  EXPECT_EQ(first.sessions[0].turns[1].speaker, "Speaker 2");
  EXPECT_EQ(first.sessions[1].turns[0].speaker, "Speaker 2");
  EXPECT_EQ(first.TurnCount(), 3);  // the current dialog is not memory
  ASSERT_EQ(first.qa.size(), 1u);
  EXPECT_EQ(first.qa[0].question, "How many cats do I have?");
  EXPECT_EQ(first.qa[0].answer, "Two.");
  EXPECT_EQ(first.qa[0].category, 1);
  EXPECT_EQ(dataset->conversations[1].qa[0].answer, "2019");
  EXPECT_EQ(dataset->conversations[1].sessions[0].date_time, "3 hours ago");
}

TEST(MscTest, LoadsAJsonList) {
  auto dataset = ParseMsc(std::string("[") + kRecord1 + "," + kRecord2 + "]", "msc.json");
  ASSERT_TRUE(dataset.ok()) << dataset.status();
  EXPECT_EQ(dataset->conversations.size(), 2u);
}

TEST(MscTest, MalformedRecordsNameFileLineAndField) {
  auto missing = ParseMsc(std::string(kRecord1) + "\n" +
                              R"({"previous_dialogs": [], "self_instruct": {"A": "q"}})" + "\n",
                          "msc.jsonl");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "msc.jsonl:2: record 1: self_instruct.B: missing");
  auto bad_turn = ParseMsc(
      R"({"previous_dialogs": [{"dialog": [{"text": 3}]}], "self_instruct": {"A": "q", "B": "a"}})",
      "msc.jsonl");
  EXPECT_EQ(bad_turn.status().message(),
            "msc.jsonl:1: record 0: previous_dialogs[0].dialog[0].text: missing or not a string");
  auto not_json = ParseMsc("{nope\n", "msc.jsonl");
  EXPECT_EQ(not_json.status().message(), "msc.jsonl:1: not valid JSON");
  EXPECT_EQ(LoadMsc("/nonexistent.jsonl").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace memr1::actor
