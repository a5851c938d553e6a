#include "actor/dataset.h"

#include <nlohmann/json.hpp>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "actor/locomo.h"
#include "actor/longmemeval.h"
#include "actor/msc.h"

namespace memr1::actor {

const char* DatasetKindName(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kLocomo:
      return "locomo";
    case DatasetKind::kLongMemEval:
      return "longmemeval";
    case DatasetKind::kMsc:
      return "msc";
    case DatasetKind::kSynthetic:
      return "synthetic";
  }
  return "unknown";
}

absl::StatusOr<DatasetKind> ParseDatasetKind(absl::string_view name) {
  const std::string lowered = absl::AsciiStrToLower(name);
  for (DatasetKind kind : {DatasetKind::kLocomo, DatasetKind::kLongMemEval, DatasetKind::kMsc,
                           DatasetKind::kSynthetic}) {
    if (lowered == DatasetKindName(kind)) return kind;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown dataset \"", name, "\"; expected locomo, longmemeval, msc or synthetic"));
}

eval::CategoryNaming CategoryNamingFor(DatasetKind kind) {
  switch (kind) {
    case DatasetKind::kLongMemEval:
      return eval::CategoryNaming::kLongMemEval;
    case DatasetKind::kMsc:
      return eval::CategoryNaming::kMsc;
    default:
      return eval::CategoryNaming::kLocomo;
  }
}

std::string Turn::DisplayText() const {
  if (image_caption.empty()) return text;
  return absl::StrCat(text, " [shared an image: ", image_caption, "]");
}

int64_t Conversation::TurnCount() const {
  int64_t turns = 0;
  for (const Session& session : sessions) turns += static_cast<int64_t>(session.turns.size());
  return turns;
}

absl::StatusOr<Dataset> LoadDataset(DatasetKind kind, const std::string& path,
                                    const LoadOptions& options) {
  switch (kind) {
    case DatasetKind::kLocomo:
    case DatasetKind::kSynthetic: {
      absl::StatusOr<Dataset> dataset = LoadLocomo(path, options);
      if (dataset.ok()) dataset->kind = kind;
      return dataset;
    }
    case DatasetKind::kLongMemEval:
      return LoadLongMemEval(path, options);
    case DatasetKind::kMsc:
      return LoadMsc(path);
  }
  return absl::InvalidArgumentError("unknown dataset kind");
}

absl::StatusOr<Dataset> LoadDataset(const v1::DataConfig& config) {
  DatasetKind kind;
  switch (config.dataset()) {
    case v1::DataConfig::LONGMEMEVAL:
      kind = DatasetKind::kLongMemEval;
      break;
    case v1::DataConfig::MSC:
      kind = DatasetKind::kMsc;
      break;
    case v1::DataConfig::SYNTHETIC:
      kind = DatasetKind::kSynthetic;
      break;
    default:
      kind = DatasetKind::kLocomo;
      break;
  }
  LoadOptions options;
  options.include_adversarial = config.include_adversarial();
  return LoadDataset(kind, config.path(), options);
}

SplitSpec SplitSpecFrom(const v1::DataConfig& config) {
  SplitSpec spec;
  spec.train = config.train_conversations();
  spec.validation = config.validation_conversations();
  spec.test = config.test_conversations();
  return spec;
}

const char* SplitName(Split split) {
  switch (split) {
    case Split::kTrain:
      return "train";
    case Split::kValidation:
      return "validation";
    case Split::kTest:
      return "test";
  }
  return "unknown";
}

const std::vector<const Conversation*>& DatasetSplits::Get(Split split) const {
  switch (split) {
    case Split::kTrain:
      return train;
    case Split::kValidation:
      return validation;
    default:
      return test;
  }
}

absl::StatusOr<DatasetSplits> SplitDataset(const Dataset& dataset, const SplitSpec& spec) {
  const int64_t available = static_cast<int64_t>(dataset.conversations.size());
  if (spec.train < 0 || spec.validation < 0) {
    return absl::InvalidArgumentError("train and validation conversation counts must be >= 0");
  }
  const int64_t test =
      spec.test < 0 ? std::max<int64_t>(0, available - spec.train - spec.validation) : spec.test;
  if (spec.train + spec.validation + test > available) {
    return absl::InvalidArgumentError(absl::StrCat(
        dataset.source, ": split ", spec.train, "/", spec.validation, "/", test,
        " needs ", spec.train + spec.validation + test, " conversations but the file has ",
        available));
  }
  DatasetSplits splits;
  int64_t index = 0;
  for (; index < spec.train; ++index) splits.train.push_back(&dataset.conversations[index]);
  for (; index < spec.train + spec.validation; ++index) {
    splits.validation.push_back(&dataset.conversations[index]);
  }
  for (; index < spec.train + spec.validation + test; ++index) {
    splits.test.push_back(&dataset.conversations[index]);
  }
  return splits;
}

void AddToStats(const Conversation& conversation, SplitStats* stats) {
  ++stats->conversations;
  stats->sessions += static_cast<int64_t>(conversation.sessions.size());
  stats->turns += conversation.TurnCount();
  stats->questions += static_cast<int64_t>(conversation.qa.size());
  for (const QaItem& item : conversation.qa) ++stats->questions_by_category[item.category];
}

DatasetStats ComputeStats(const DatasetSplits& splits) {
  DatasetStats stats;
  for (const auto& [list, target] :
       {std::make_pair(&splits.train, &stats.train),
        std::make_pair(&splits.validation, &stats.validation),
        std::make_pair(&splits.test, &stats.test)}) {
    for (const Conversation* conversation : *list) {
      AddToStats(*conversation, target);
      AddToStats(*conversation, &stats.all);
    }
  }
  return stats;
}

namespace {

std::set<int> AllCategories(const DatasetStats& stats) {
  std::set<int> categories;
  for (const auto& [category, count] : stats.all.questions_by_category) categories.insert(category);
  return categories;
}

}  // namespace

std::string StatsToMarkdown(const DatasetStats& stats, eval::CategoryNaming naming) {
  const std::set<int> categories = AllCategories(stats);
  std::string out = "| split | conversations | sessions | turns | questions |";
  std::string rule = "|---|---:|---:|---:|---:|";
  for (int category : categories) {
    absl::StrAppend(&out, " ", category, " ", eval::CategoryName(category, naming), " |");
    absl::StrAppend(&rule, "---:|");
  }
  absl::StrAppend(&out, "\n", rule, "\n");
  for (const auto& [name, split] :
       {std::make_pair("train", &stats.train), std::make_pair("validation", &stats.validation),
        std::make_pair("test", &stats.test), std::make_pair("all", &stats.all)}) {
    absl::StrAppend(&out, "| ", name, " | ", split->conversations, " | ", split->sessions, " | ",
                    split->turns, " | ", split->questions, " |");
    for (int category : categories) {
      const auto it = split->questions_by_category.find(category);
      absl::StrAppend(&out, " ", it == split->questions_by_category.end() ? 0 : it->second, " |");
    }
    absl::StrAppend(&out, "\n");
  }
  return out;
}

std::string StatsToJson(const DatasetStats& stats, eval::CategoryNaming naming) {
  nlohmann::ordered_json out;
  for (const auto& [name, split] :
       {std::make_pair("train", &stats.train), std::make_pair("validation", &stats.validation),
        std::make_pair("test", &stats.test), std::make_pair("all", &stats.all)}) {
    nlohmann::ordered_json item;
    item["conversations"] = split->conversations;
    item["sessions"] = split->sessions;
    item["turns"] = split->turns;
    item["questions"] = split->questions;
    nlohmann::ordered_json by_category = nlohmann::ordered_json::object();
    for (const auto& [category, count] : split->questions_by_category) {
      by_category[std::to_string(category)] = {{"name", eval::CategoryName(category, naming)},
                                               {"count", count}};
    }
    item["categories"] = std::move(by_category);
    out[name] = std::move(item);
  }
  return out.dump(2) + "\n";
}

}  // namespace memr1::actor
