#pragma once

// Per-category and overall score tables. A ScoreReport accumulates the scores of answered
// questions and renders them as markdown (for terminals and docs), JSON (for tools) or CSV
// (for spreadsheets); every format carries the question count of each row.
//
// Values: JSON and CSV hold means in [0, 1] at full precision; markdown shows percentages with
// two decimals, as papers print them. The overall row is the mean over all questions added
// (not the mean of the category means), as Mem0's and LoCoMo's scripts compute it.
//
// Thread safety: not thread safe; one owner adds and renders.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "eval/categories.h"
#include "eval/metrics.h"

namespace memr1::eval {

class ScoreReport {
 public:
  struct Row {
    std::string label;            // category name, or "overall"
    std::optional<int> category;  // empty on the overall row
    int64_t count = 0;
    double em = 0;
    double f1 = 0;
    double f1_locomo = 0;
    double bleu1 = 0;
    // Mean judge score over the questions that have one; empty when none has.
    std::optional<double> judge;
    int64_t judge_count = 0;
  };

  // Adds one answered question. `judge` is its LLM-judge score (the mean over repeats).
  void Add(int category, const AnswerScores& scores, std::optional<double> judge = std::nullopt);

  int64_t count() const { return overall_.count; }
  bool has_judge() const { return overall_.judge_count > 0; }

  // Categories in ascending id order, then the overall row.
  std::vector<Row> Rows(CategoryNaming naming) const;

  std::string ToMarkdown(CategoryNaming naming) const;
  std::string ToJson(CategoryNaming naming) const;
  std::string ToCsv(CategoryNaming naming) const;

 private:
  struct Sums {
    int64_t count = 0;
    double em = 0;
    double f1 = 0;
    double f1_locomo = 0;
    double bleu1 = 0;
    double judge = 0;
    int64_t judge_count = 0;
    void Add(const AnswerScores& scores, std::optional<double> judge);
    Row ToRow(std::string label, std::optional<int> category) const;
  };
  std::map<int, Sums> by_category_;
  Sums overall_;
};

}  // namespace memr1::eval
