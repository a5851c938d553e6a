#include "eval/score_file.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/jsonl.h"
#include "common/status_macros.h"

namespace memr1::eval {
namespace {

absl::Status FieldError(const std::string& where, absl::string_view field,
                        absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": field \"", field, "\" ", problem));
}

// A string, or a number written as JSON writes it.
absl::StatusOr<std::string> TextField(const nlohmann::json& object, const std::string& where,
                                      const char* field, bool allow_number) {
  if (!object.contains(field)) return FieldError(where, field, "is missing");
  const nlohmann::json& value = object[field];
  if (value.is_string()) return value.get<std::string>();
  if (allow_number && value.is_number()) return value.dump();
  return FieldError(where, field,
                    allow_number ? "must be a string or a number" : "must be a string");
}

}  // namespace

absl::StatusOr<std::vector<ScoreInput>> ParseScoreInput(const std::string& text,
                                                        const std::string& source) {
  std::vector<ScoreInput> items;
  std::istringstream stream(text);
  MEMR1_RETURN_IF_ERROR(ForEachJsonObject(
      stream, source,
      [&](const nlohmann::json& object, const std::string& where) -> absl::Status {
        ScoreInput item;
        MEMR1_ASSIGN_OR_RETURN(item.id, TextField(object, where, "id", /*allow_number=*/true));
        MEMR1_ASSIGN_OR_RETURN(item.question,
                               TextField(object, where, "question", /*allow_number=*/false));
        MEMR1_ASSIGN_OR_RETURN(item.gold, TextField(object, where, "gold", /*allow_number=*/true));
        MEMR1_ASSIGN_OR_RETURN(item.prediction,
                               TextField(object, where, "prediction", /*allow_number=*/true));
        if (!object.contains("category")) return FieldError(where, "category", "is missing");
        const nlohmann::json& category = object["category"];
        if (!category.is_number_integer()) {
          return FieldError(where, "category", "must be an integer");
        }
        item.category = category.get<int>();
        items.push_back(std::move(item));
        return absl::OkStatus();
      }));
  return items;
}

absl::StatusOr<std::vector<ScoreInput>> ReadScoreInput(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return absl::DataLossError(absl::StrCat("cannot read ", path));
  return ParseScoreInput(text.str(), path);
}

absl::StatusOr<std::vector<ScoredItem>> ScoreItems(const std::vector<ScoreInput>& items,
                                                   const JudgeClient* judge) {
  std::vector<ScoredItem> scored;
  scored.reserve(items.size());
  for (const ScoreInput& input : items) {
    ScoredItem item;
    item.input = input;
    item.scores = ScoreAnswer(input.prediction, input.gold, input.category);
    if (judge != nullptr) {
      absl::StatusOr<JudgeVerdict> verdict =
          judge->Judge(input.question, input.gold, input.prediction);
      if (!verdict.ok()) return Annotate(verdict.status(), absl::StrCat("item ", input.id));
      item.judge = *std::move(verdict);
    }
    scored.push_back(std::move(item));
  }
  return scored;
}

ScoreReport MakeReport(const std::vector<ScoredItem>& items) {
  ScoreReport report;
  for (const ScoredItem& item : items) {
    report.Add(item.input.category, item.scores,
               item.judge ? std::optional<double>(item.judge->score) : std::nullopt);
  }
  return report;
}

std::string ScoredItemsToJsonl(const std::vector<ScoredItem>& items) {
  std::string out;
  for (const ScoredItem& item : items) {
    nlohmann::ordered_json line;
    line["id"] = item.input.id;
    line["category"] = item.input.category;
    line["em"] = item.scores.em;
    line["f1"] = item.scores.f1;
    line["f1_locomo"] = item.scores.f1_locomo;
    line["bleu1"] = item.scores.bleu1;
    if (item.judge) {
      line["judge"] = item.judge->score;
      line["judge_labels"] = item.judge->correct;
    }
    absl::StrAppend(&out, line.dump(), "\n");
  }
  return out;
}

}  // namespace memr1::eval
