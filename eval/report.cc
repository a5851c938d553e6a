#include "eval/report.h"

#include <nlohmann/json.hpp>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/numbers.h"

namespace memr1::eval {

void ScoreReport::Sums::Add(const AnswerScores& scores, std::optional<double> judge_score) {
  ++count;
  em += scores.em;
  f1 += scores.f1;
  f1_locomo += scores.f1_locomo;
  bleu1 += scores.bleu1;
  if (judge_score.has_value()) {
    judge += *judge_score;
    ++judge_count;
  }
}

ScoreReport::Row ScoreReport::Sums::ToRow(std::string label, std::optional<int> category) const {
  Row row;
  row.label = std::move(label);
  row.category = category;
  row.count = count;
  if (count > 0) {
    const double n = static_cast<double>(count);
    row.em = em / n;
    row.f1 = f1 / n;
    row.f1_locomo = f1_locomo / n;
    row.bleu1 = bleu1 / n;
  }
  row.judge_count = judge_count;
  if (judge_count > 0) row.judge = judge / static_cast<double>(judge_count);
  return row;
}

void ScoreReport::Add(int category, const AnswerScores& scores, std::optional<double> judge) {
  by_category_[category].Add(scores, judge);
  overall_.Add(scores, judge);
}

std::vector<ScoreReport::Row> ScoreReport::Rows(CategoryNaming naming) const {
  std::vector<Row> rows;
  for (const auto& [category, sums] : by_category_) {
    rows.push_back(sums.ToRow(CategoryName(category, naming), category));
  }
  rows.push_back(overall_.ToRow("overall", std::nullopt));
  return rows;
}

std::string ScoreReport::ToMarkdown(CategoryNaming naming) const {
  const bool judge = has_judge();
  std::string out = "| category | name | count | EM | F1 | F1 (LoCoMo) | BLEU-1 |";
  if (judge) absl::StrAppend(&out, " Judge |");
  absl::StrAppend(&out, "\n|---|---|---:|---:|---:|---:|---:|", judge ? "---:|" : "", "\n");
  for (const Row& row : Rows(naming)) {
    absl::StrAppend(&out, "| ", row.category ? absl::StrCat(*row.category) : "all", " | ",
                    row.label, " | ", row.count, " | ",
                    absl::StrFormat("%.2f | %.2f | %.2f | %.2f |", 100 * row.em, 100 * row.f1,
                                    100 * row.f1_locomo, 100 * row.bleu1));
    if (judge) {
      absl::StrAppend(&out, row.judge ? absl::StrFormat(" %.2f |", 100 * *row.judge) : " - |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string ScoreReport::ToJson(CategoryNaming naming) const {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (const Row& row : Rows(naming)) {
    nlohmann::ordered_json item;
    item["category"] = row.category ? nlohmann::ordered_json(*row.category)
                                    : nlohmann::ordered_json("overall");
    item["name"] = row.label;
    item["count"] = row.count;
    item["em"] = row.em;
    item["f1"] = row.f1;
    item["f1_locomo"] = row.f1_locomo;
    item["bleu1"] = row.bleu1;
    if (has_judge()) {
      item["judge"] = row.judge ? nlohmann::ordered_json(*row.judge) : nlohmann::ordered_json();
      item["judge_count"] = row.judge_count;
    }
    rows.push_back(std::move(item));
  }
  return rows.dump(2) + "\n";
}

std::string ScoreReport::ToCsv(CategoryNaming naming) const {
  const bool judge = has_judge();
  std::string out = "category,name,count,em,f1,f1_locomo,bleu1";
  if (judge) absl::StrAppend(&out, ",judge,judge_count");
  absl::StrAppend(&out, "\n");
  for (const Row& row : Rows(naming)) {
    // Names are our own constants (letters, digits, '-' and ' '), so no CSV quoting is needed.
    absl::StrAppend(&out, row.category ? absl::StrCat(*row.category) : "overall", ",", row.label,
                    ",", row.count, ",", FormatDoubleShortest(row.em), ",",
                    FormatDoubleShortest(row.f1), ",", FormatDoubleShortest(row.f1_locomo), ",",
                    FormatDoubleShortest(row.bleu1));
    if (judge) {
      absl::StrAppend(&out, ",", row.judge ? FormatDoubleShortest(*row.judge) : "", ",",
                      row.judge_count);
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

}  // namespace memr1::eval
