#include "eval/report.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "absl/strings/match.h"
#include "eval/categories.h"
#include "eval/score_file.h"

namespace memr1::eval {
namespace {

TEST(CategoriesTest, OfficialAndMem0Names) {
  EXPECT_EQ(CategoryName(1, CategoryNaming::kLocomo), "multi-hop");
  EXPECT_EQ(CategoryName(4, CategoryNaming::kLocomo), "single-hop");
  EXPECT_EQ(CategoryName(1, CategoryNaming::kMem0), "single-hop");
  EXPECT_EQ(CategoryName(3, CategoryNaming::kMem0), "multi-hop");
  EXPECT_EQ(CategoryName(4, CategoryNaming::kMem0), "open-domain");
  EXPECT_EQ(CategoryName(6, CategoryNaming::kLongMemEval), "knowledge-update");
  EXPECT_EQ(CategoryName(9, CategoryNaming::kLocomo), "category 9");
  EXPECT_EQ(*LongMemEvalCategory("temporal-reasoning"), 5);
  EXPECT_FALSE(LongMemEvalCategory("nope").has_value());
  EXPECT_FALSE(ParseCategoryNaming("klingon").ok());
  EXPECT_EQ(*ParseCategoryNaming("MEM0"), CategoryNaming::kMem0);
}

ScoreReport TwoCategoryReport() {
  ScoreReport report;
  report.Add(4, {1, 1, 1, 1});
  report.Add(4, {0, 0.5, 0.25, 0});
  report.Add(2, {0, 0, 0, 0});
  return report;
}

TEST(ScoreReportTest, RowsAreCategoryMeansThenOverallMean) {
  const std::vector<ScoreReport::Row> rows = TwoCategoryReport().Rows(CategoryNaming::kLocomo);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].category, 2);
  EXPECT_EQ(rows[0].label, "temporal");
  EXPECT_EQ(rows[1].count, 2);
  EXPECT_DOUBLE_EQ(rows[1].f1, 0.75);
  EXPECT_DOUBLE_EQ(rows[1].f1_locomo, 0.625);
  EXPECT_EQ(rows[2].label, "overall");
  EXPECT_EQ(rows[2].count, 3);
  EXPECT_DOUBLE_EQ(rows[2].f1, 0.5);  // mean over questions, not over categories
  EXPECT_FALSE(rows[2].judge.has_value());
}

TEST(ScoreReportTest, RendersMarkdownJsonAndCsv) {
  ScoreReport report = TwoCategoryReport();
  const std::string markdown = report.ToMarkdown(CategoryNaming::kLocomo);
  EXPECT_TRUE(absl::StrContains(markdown, "| 4 | single-hop | 2 | 50.00 | 75.00 | 62.50 | 50.00 |"))
      << markdown;
  EXPECT_TRUE(absl::StrContains(markdown, "| all | overall | 3 |")) << markdown;
  EXPECT_FALSE(absl::StrContains(markdown, "Judge"));
  const std::string mem0 = report.ToMarkdown(CategoryNaming::kMem0);
  EXPECT_TRUE(absl::StrContains(mem0, "| 4 | open-domain | 2 |")) << mem0;

  const nlohmann::json json = nlohmann::json::parse(report.ToJson(CategoryNaming::kLocomo));
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[1]["count"], 2);
  EXPECT_DOUBLE_EQ(json[1]["f1"].get<double>(), 0.75);
  EXPECT_EQ(json[2]["category"], "overall");

  const std::string csv = report.ToCsv(CategoryNaming::kLocomo);
  EXPECT_TRUE(absl::StartsWith(csv, "category,name,count,em,f1,f1_locomo,bleu1\n")) << csv;
  EXPECT_TRUE(absl::StrContains(csv, "\n4,single-hop,2,0.5,0.75,0.625,0.5\n")) << csv;
  EXPECT_TRUE(absl::StrContains(csv, "\noverall,overall,3,")) << csv;
}

TEST(ScoreReportTest, JudgeColumnAppearsWhenScored) {
  ScoreReport report;
  report.Add(1, {1, 1, 1, 1}, 1.0);
  report.Add(1, {0, 0, 0, 0}, 0.5);
  const std::vector<ScoreReport::Row> rows = report.Rows(CategoryNaming::kLocomo);
  ASSERT_TRUE(rows[0].judge.has_value());
  EXPECT_DOUBLE_EQ(*rows[0].judge, 0.75);
  EXPECT_TRUE(absl::StrContains(report.ToMarkdown(CategoryNaming::kLocomo), "Judge"));
  EXPECT_TRUE(absl::StrContains(report.ToCsv(CategoryNaming::kLocomo), ",judge,judge_count"));
}

TEST(ScoreFileTest, ParsesLinesAndConvertsNumbers) {
  auto items = ParseScoreInput(
      "{\"id\": 7, \"question\": \"When?\", \"gold\": 2022, \"prediction\": \"2022\", "
      "\"category\": 2}\n\n"
      "{\"id\": \"b\", \"question\": \"Who?\", \"gold\": \"Maya\", \"prediction\": \"maya\", "
      "\"category\": 4}\n",
      "in.jsonl");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].id, "7");
  EXPECT_EQ((*items)[0].gold, "2022");
  auto scored = ScoreItems(*items);
  ASSERT_TRUE(scored.ok());
  EXPECT_EQ((*scored)[0].scores.em, 1.0);
  EXPECT_EQ((*scored)[1].scores.em, 1.0);
  const std::string jsonl = ScoredItemsToJsonl(*scored);
  EXPECT_TRUE(absl::StrContains(jsonl, "{\"id\":\"7\",\"category\":2,\"em\":1.0,")) << jsonl;
  EXPECT_EQ(MakeReport(*scored).count(), 2);
}

TEST(ScoreFileTest, BadLinesNameFileLineAndField) {
  auto missing = ParseScoreInput(
      "{\"id\": 1, \"question\": \"q\", \"gold\": \"g\", \"prediction\": \"p\", \"category\": 1}\n"
      "{\"id\": 2, \"question\": \"q\", \"gold\": \"g\", \"category\": 1}\n",
      "preds.jsonl");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "preds.jsonl:2: field \"prediction\" is missing");
  auto bad_category = ParseScoreInput(
      "{\"id\": 1, \"question\": \"q\", \"gold\": \"g\", \"prediction\": \"p\", "
      "\"category\": \"one\"}\n",
      "preds.jsonl");
  EXPECT_EQ(bad_category.status().message(),
            "preds.jsonl:1: field \"category\" must be an integer");
  auto not_json = ParseScoreInput("{oops\n", "preds.jsonl");
  EXPECT_EQ(not_json.status().message(), "preds.jsonl:1: not a JSON object");
  EXPECT_EQ(ReadScoreInput("/nonexistent/preds.jsonl").status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace memr1::eval
