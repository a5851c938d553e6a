#include "eval/paired.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/jsonl.h"
#include "common/status_macros.h"

namespace memr1::eval {

absl::StatusOr<MetricScores> ParseQuestionScores(const std::string& text,
                                                 const std::string& source,
                                                 const std::vector<std::string>& metrics) {
  MetricScores scores;
  for (const std::string& metric : metrics) scores[metric];
  std::istringstream stream(text);
  MEMR1_RETURN_IF_ERROR(ForEachJsonObject(
      stream, source,
      [&](const nlohmann::json& object, const std::string& where) -> absl::Status {
        if (!object.contains("id") || !object["id"].is_string()) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": field \"id\" must be a string"));
        }
        const std::string id = object["id"].get<std::string>();
        for (const std::string& metric : metrics) {
          if (!object.contains(metric) || !object[metric].is_number()) {
            return absl::InvalidArgumentError(
                absl::StrCat(where, ": field \"", metric, "\" must be a number"));
          }
          if (!scores[metric].emplace(id, object[metric].get<double>()).second) {
            return absl::InvalidArgumentError(
                absl::StrCat(where, ": question \"", id, "\" again"));
          }
        }
        return absl::OkStatus();
      }));
  return scores;
}

absl::StatusOr<MetricScores> ReadQuestionScores(const std::string& path,
                                                const std::vector<std::string>& metrics) {
  MEMR1_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseQuestionScores(text, path, metrics);
}

absl::StatusOr<PairedDifference> ComparePaired(const QuestionScores& baseline,
                                               const std::vector<QuestionScores>& candidates) {
  if (candidates.empty()) return absl::InvalidArgumentError("no candidate to compare");
  for (size_t c = 0; c < candidates.size(); ++c) {
    // Same size and every baseline id present: the same question set.
    for (const auto& [id, score] : baseline) {
      if (!candidates[c].count(id)) {
        return absl::InvalidArgumentError(
            absl::StrCat("candidate ", c + 1, " has no score for question \"", id, "\""));
      }
    }
    if (candidates[c].size() != baseline.size()) {
      for (const auto& [id, score] : candidates[c]) {
        if (!baseline.count(id)) {
          return absl::InvalidArgumentError(
              absl::StrCat("the baseline has no score for question \"", id, "\" (candidate ",
                           c + 1, ")"));
        }
      }
    }
  }
  PairedDifference result;
  result.count = static_cast<int64_t>(baseline.size());
  std::vector<double> differences;
  differences.reserve(baseline.size());
  for (const auto& [id, score] : baseline) {
    double sum = 0;
    for (const QuestionScores& candidate : candidates) sum += candidate.at(id);
    const double difference = sum / candidates.size() - score;
    differences.push_back(difference);
    result.mean += difference;
    // Three equal seed scores average to their value only up to rounding.
    if (difference > 1e-12) ++result.better;
    if (difference < -1e-12) ++result.worse;
  }
  if (result.count == 0) return result;
  result.mean /= result.count;
  if (result.count > 1) {
    double squares = 0;
    for (double difference : differences) {
      squares += (difference - result.mean) * (difference - result.mean);
    }
    result.standard_error = std::sqrt(squares / (result.count - 1) / result.count);
  }
  return result;
}

}  // namespace memr1::eval
