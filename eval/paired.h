#pragma once

// Paired comparison of systems scored on the same questions: how much a candidate (or the mean
// of several, e.g. RL seeds) gains over a baseline, and whether the gain stands out from the
// noise of the question sample.
//
// The unit is the question: d_i = (mean over candidates of score_i) - baseline score_i, over
// the questions every system answered. The result is the mean of d, its standard error
// sd(d) / sqrt(n) (sample standard deviation, n - 1), and the counts of questions with d > 0
// and d < 0. Pairing removes the question-to-question spread that two unpaired means carry,
// and averaging the candidates per question first treats the seeds as repeated measurements of
// the same questions (their means are not independent samples).
//
// Scores are read from per-question JSONL (`memr1 eval`'s predictions.jsonl, `memr1 score`'s
// output): an object per line with a string "id" and a numeric metric field.
//
// Errors: a bad line, a missing or non-numeric field or a repeated id is InvalidArgument naming
// file:line; systems that did not answer the same questions is InvalidArgument naming a
// question one of them lacks.
//
// Thread safety: pure functions.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace memr1::eval {

// question id -> score.
using QuestionScores = std::map<std::string, double>;
// metric name ("f1", "em", ...) -> its scores.
using MetricScores = std::map<std::string, QuestionScores>;

// Every metric of `metrics` from one pass over the file.
absl::StatusOr<MetricScores> ReadQuestionScores(const std::string& path,
                                                const std::vector<std::string>& metrics);
absl::StatusOr<MetricScores> ParseQuestionScores(const std::string& text,
                                                 const std::string& source,
                                                 const std::vector<std::string>& metrics);

struct PairedDifference {
  int64_t count = 0;
  double mean = 0;            // mean of the per-question differences
  double standard_error = 0;  // 0 when count < 2
  int64_t better = 0;         // questions where the candidates' mean is above the baseline
  int64_t worse = 0;
  // mean / standard_error; 0 when the standard error is 0.
  double t() const { return standard_error > 0 ? mean / standard_error : 0; }
};

// `candidates` must not be empty; every system must score exactly the baseline's questions.
absl::StatusOr<PairedDifference> ComparePaired(const QuestionScores& baseline,
                                               const std::vector<QuestionScores>& candidates);

}  // namespace memr1::eval
