#include "actor/locomo.h"

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "actor/dataset.h"
#include "tests/actor/test_files.h"

namespace memr1::actor {
namespace {

using testing::LocomoPath;
using testing::WriteTempFile;

const Dataset& RealLocomo(bool include_adversarial) {
  static const Dataset* without = nullptr;
  static const Dataset* with = nullptr;
  const Dataset*& slot = include_adversarial ? with : without;
  if (slot == nullptr) {
    LoadOptions options;
    options.include_adversarial = include_adversarial;
    absl::StatusOr<Dataset> dataset = LoadLocomo(LocomoPath(), options);
    EXPECT_TRUE(dataset.ok()) << dataset.status();
    slot = new Dataset(dataset.ok() ? *std::move(dataset) : Dataset());
  }
  return *slot;
}

TEST(LocomoTest, DefaultSplitGivesPaperCounts) {
  const Dataset& dataset = RealLocomo(false);
  ASSERT_EQ(dataset.conversations.size(), 10u);
  auto splits = SplitDataset(dataset, SplitSpec{});
  ASSERT_TRUE(splits.ok()) << splits.status();
  const DatasetStats stats = ComputeStats(*splits);
  EXPECT_EQ(stats.train.questions, 152);
  EXPECT_EQ(stats.validation.questions, 81);
  EXPECT_EQ(stats.test.questions, 1307);
  EXPECT_EQ(stats.train.conversations, 1);
  EXPECT_EQ(stats.validation.conversations, 1);
  EXPECT_EQ(stats.test.conversations, 8);
  EXPECT_EQ((*splits).train[0]->id, "conv-26");
  EXPECT_EQ((*splits).validation[0]->id, "conv-30");
  EXPECT_EQ(stats.all.questions_by_category.count(5), 0u);
}

TEST(LocomoTest, CategoryCountsMatchTheOfficialOnes) {
  const Dataset& dataset = RealLocomo(true);
  auto splits = SplitDataset(dataset, SplitSpec{});
  ASSERT_TRUE(splits.ok());
  const DatasetStats stats = ComputeStats(*splits);
  EXPECT_EQ(stats.all.questions, 1986);
  EXPECT_EQ(stats.all.questions_by_category.at(1), 282);
  EXPECT_EQ(stats.all.questions_by_category.at(2), 321);
  EXPECT_EQ(stats.all.questions_by_category.at(3), 96);
  EXPECT_EQ(stats.all.questions_by_category.at(4), 841);
  EXPECT_EQ(stats.all.questions_by_category.at(5), 446);
  EXPECT_EQ(stats.all.sessions, 272);
  EXPECT_EQ(stats.all.turns, 5882);
}

TEST(LocomoTest, NumberAnswersBecomeStrings) {
  const Conversation& first = RealLocomo(false).conversations[0];
  int numeric = 0;
  for (const QaItem& item : first.qa) {
    if (item.question == "When did Melanie paint a sunrise?") {
      EXPECT_EQ(item.answer, "2022");
      ++numeric;
    }
    if (item.question == "How many children does Melanie have?") {
      EXPECT_EQ(item.answer, "3");
      ++numeric;
    }
  }
  EXPECT_EQ(numeric, 2);
}

TEST(LocomoTest, SessionsTurnsAndImageCaptions) {
  const Conversation& first = RealLocomo(false).conversations[0];
  EXPECT_EQ(first.speaker_a, "Caroline");
  EXPECT_EQ(first.speaker_b, "Melanie");
  ASSERT_EQ(first.sessions.size(), 19u);
  EXPECT_EQ(first.sessions[0].number, 1);
  EXPECT_EQ(first.sessions[18].number, 19);
  EXPECT_EQ(first.sessions[0].date_time, "1:56 pm on 8 May, 2023");
  EXPECT_EQ(first.TurnCount(), 419);
  const Turn& image_turn = first.sessions[0].turns[4];
  EXPECT_EQ(image_turn.dia_id, "D1:5");
  EXPECT_EQ(image_turn.image_caption,
            "a photo of a dog walking past a wall with a painting of a woman");
  EXPECT_TRUE(absl::StrContains(image_turn.DisplayText(), image_turn.image_caption));
  EXPECT_TRUE(absl::StartsWith(image_turn.DisplayText(), image_turn.text));
  EXPECT_EQ(first.qa[0].id, "conv-26/qa0");
  EXPECT_EQ(first.qa[0].evidence, std::vector<std::string>{"D1:3"});
}

TEST(LocomoTest, AdversarialItemsKeepTheirAnswer) {
  int adversarial = 0;
  for (const QaItem& item : RealLocomo(true).conversations[0].qa) {
    if (item.category != 5) continue;
    ++adversarial;
    EXPECT_FALSE(item.adversarial_answer.empty()) << item.id;
  }
  EXPECT_GT(adversarial, 0);
}

TEST(LocomoTest, WritingAndReadingBackKeepsEverything) {
  const Dataset& dataset = RealLocomo(true);
  const std::string text = LocomoToJson(dataset);
  LoadOptions options;
  options.include_adversarial = true;
  auto again = ParseLocomo(text, "roundtrip.json", options);
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->conversations.size(), dataset.conversations.size());
  for (size_t c = 0; c < dataset.conversations.size(); ++c) {
    const Conversation& a = dataset.conversations[c];
    const Conversation& b = again->conversations[c];
    ASSERT_EQ(a.qa.size(), b.qa.size());
    for (size_t q = 0; q < a.qa.size(); ++q) {
      EXPECT_EQ(a.qa[q].answer, b.qa[q].answer);
      EXPECT_EQ(a.qa[q].adversarial_answer, b.qa[q].adversarial_answer);
      EXPECT_EQ(a.qa[q].category, b.qa[q].category);
    }
    EXPECT_EQ(a.TurnCount(), b.TurnCount());
  }
  EXPECT_EQ(LocomoToJson(*again), text);
}

std::string Sample(const std::string& qa, const std::string& session = R"([
  {"speaker": "A", "dia_id": "D1:1", "text": "hi"}])") {
  return R"([{"sample_id": "s1", "conversation": {"speaker_a": "A", "speaker_b": "B",
    "session_1_date_time": "1:00 pm on 1 May, 2023", "session_1": )" +
         session + R"(}, "qa": )" + qa + "}]";
}

TEST(LocomoTest, MalformedFilesNameFileRecordAndField) {
  auto bad_category = ParseLocomo(
      Sample(R"([{"question": "q", "answer": "a", "category": "two"}])"), "bad.json");
  ASSERT_FALSE(bad_category.ok());
  EXPECT_EQ(bad_category.status().message(),
            "bad.json: record 0 (s1): qa[0].category: must be an integer 1-5");
  auto missing_answer =
      ParseLocomo(Sample(R"([{"question": "q", "category": 4}])"), "bad.json");
  EXPECT_EQ(missing_answer.status().message(), "bad.json: record 0 (s1): qa[0].answer: missing");
  auto object_answer = ParseLocomo(
      Sample(R"([{"question": "q", "answer": {"x": 1}, "category": 4}])"), "bad.json");
  EXPECT_EQ(object_answer.status().message(),
            "bad.json: record 0 (s1): qa[0].answer: must be a string or a number");
  auto bad_turn = ParseLocomo(Sample("[]", R"([{"speaker": "A", "text": 5}])"), "bad.json");
  EXPECT_EQ(bad_turn.status().message(),
            "bad.json: record 0 (s1): conversation.session_1[0].text: must be a string");
  auto not_json = ParseLocomo("[{", "bad.json");
  EXPECT_TRUE(absl::StartsWith(not_json.status().message(), "bad.json: not valid JSON at byte"))
      << not_json.status();
  auto not_list = ParseLocomo("{}", "bad.json");
  EXPECT_EQ(not_list.status().message(), "bad.json: must be a JSON list of samples");
  EXPECT_EQ(LoadLocomo("/nonexistent/locomo.json").status().code(), absl::StatusCode::kNotFound);
}

TEST(LocomoTest, WriteLocomoWritesAtomically) {
  const std::string path = ::testing::TempDir() + "/written_locomo.json";
  const Dataset& dataset = RealLocomo(false);
  ASSERT_TRUE(WriteLocomo(dataset, path).ok());
  EXPECT_EQ(testing::ReadFile(path), LocomoToJson(dataset));
  EXPECT_FALSE(WriteLocomo(dataset, "/nonexistent/dir/x.json").ok());
}

TEST(DatasetTest, SplitsRejectTooManyConversations) {
  const Dataset& dataset = RealLocomo(false);
  auto splits = SplitDataset(dataset, SplitSpec{5, 5, 5});
  ASSERT_FALSE(splits.ok());
  EXPECT_TRUE(absl::StrContains(splits.status().message(), "needs 15 conversations"));
  auto rest = SplitDataset(dataset, SplitSpec{2, 0, -1});
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(rest->test.size(), 8u);
  EXPECT_FALSE(ParseDatasetKind("imagenet").ok());
  EXPECT_EQ(*ParseDatasetKind("LongMemEval"), DatasetKind::kLongMemEval);
}

TEST(DatasetTest, StatsRenderAsMarkdownAndJson) {
  auto splits = SplitDataset(RealLocomo(false), SplitSpec{});
  ASSERT_TRUE(splits.ok());
  const DatasetStats stats = ComputeStats(*splits);
  const std::string markdown = StatsToMarkdown(stats, eval::CategoryNaming::kLocomo);
  EXPECT_TRUE(absl::StrContains(markdown, "| 1 multi-hop |")) << markdown;
  EXPECT_TRUE(absl::StrContains(markdown, "| train | 1 | 19 | 419 | 152 |")) << markdown;
  EXPECT_TRUE(absl::StrContains(StatsToJson(stats, eval::CategoryNaming::kLocomo),
                                "\"questions\": 1307"));
}

}  // namespace
}  // namespace memr1::actor
