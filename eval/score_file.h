#pragma once

// Scoring of any system's predictions from a JSONL file, the engine of `memr1 score`.
//
// Input: one JSON object per line with "id" (string or number), "question" (string), "gold"
// and "prediction" (string or number; numbers become their JSON text, as LoCoMo's scorer
// turns int answers into str), and "category" (integer). Blank lines are skipped. A bad line is
// an InvalidArgument error naming the file, the line number and the field; nothing is scored
// from a file with a bad line.
//
// Output per item: {"id", "category", "em", "f1", "f1_locomo", "bleu1"} plus "judge" (the mean
// over repeats) and "judge_labels" when a judge is used.
//
// Thread safety: pure functions; the JudgeClient passed in must outlive the call.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/judge_client.h"
#include "eval/metrics.h"
#include "eval/report.h"

namespace memr1::eval {

struct ScoreInput {
  std::string id;
  std::string question;
  std::string gold;
  std::string prediction;
  int category = 0;
};

struct ScoredItem {
  ScoreInput input;
  AnswerScores scores;
  std::optional<JudgeVerdict> judge;
};

// Reads and checks every line of `path`.
absl::StatusOr<std::vector<ScoreInput>> ReadScoreInput(const std::string& path);
// The same for text already in memory; `source` names it in errors.
absl::StatusOr<std::vector<ScoreInput>> ParseScoreInput(const std::string& text,
                                                        const std::string& source);

// Scores every item; asks `judge` too when it is not null. A judge error stops the run and is
// returned with the item id added.
absl::StatusOr<std::vector<ScoredItem>> ScoreItems(const std::vector<ScoreInput>& items,
                                                   const JudgeClient* judge = nullptr);

// Adds every item to a report.
ScoreReport MakeReport(const std::vector<ScoredItem>& items);

// The per-item JSONL text (one line per item, in input order).
std::string ScoredItemsToJsonl(const std::vector<ScoredItem>& items);

}  // namespace memr1::eval
