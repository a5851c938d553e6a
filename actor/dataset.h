#pragma once

// The one dataset model of memr1: every benchmark (LoCoMo, LongMemEval, MSC, the synthetic
// world) loads into Conversations of dated Sessions of Turns, plus the QaItems asked about
// each conversation. Episodes, rewards and evaluation read only this model.
//
// Question categories are plain ints (eval/categories.h names them): LoCoMo's 1 multi-hop,
// 2 temporal, 3 open-domain, 4 single-hop, 5 adversarial; LongMemEval's question types 1..6;
// MSC's 1 self-instruct. The synthetic world uses LoCoMo's 1..4.
//
// Thread safety: plain values; const access from many threads is safe.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "eval/categories.h"
#include "memr1/v1/config.pb.h"

namespace memr1::actor {

enum class DatasetKind { kLocomo, kLongMemEval, kMsc, kSynthetic };

// "locomo", "longmemeval", "msc", "synthetic".
const char* DatasetKindName(DatasetKind kind);
absl::StatusOr<DatasetKind> ParseDatasetKind(absl::string_view name);
// How reports name this dataset's categories.
eval::CategoryNaming CategoryNamingFor(DatasetKind kind);

struct Turn {
  std::string speaker;
  std::string dia_id;  // LoCoMo "D3:7"; other datasets get "S<session>:<turn>"
  std::string text;
  // Caption of an image shared in the turn (LoCoMo's blip_caption); empty when none.
  std::string image_caption;
  // LongMemEval marks the turns that hold the answer.
  bool has_answer = false;

  // The text a memory agent reads: `text`, plus " [shared an image: <caption>]" when the turn
  // carries an image, so image content survives as text.
  std::string DisplayText() const;
};

struct Session {
  int number = 0;          // 1-based, in conversation order
  std::string id;          // dataset's session id when it has one (LongMemEval)
  std::string date_time;   // as the dataset writes it ("1:56 pm on 8 May, 2023")
  std::vector<Turn> turns;
};

struct QaItem {
  std::string id;  // unique within the dataset ("conv-26/qa3", LongMemEval's question_id)
  std::string question;
  std::string answer;              // gold answer; numbers become their decimal text
  std::string adversarial_answer;  // LoCoMo category 5 only
  int category = 0;
  std::vector<std::string> evidence;  // dia_ids / session ids that support the answer
  std::string question_date;          // LongMemEval: when the question is asked
  bool abstention = false;            // LongMemEval "_abs" questions: the answer is unknown
};

struct Conversation {
  std::string id;
  std::string speaker_a;
  std::string speaker_b;
  std::vector<Session> sessions;
  std::vector<QaItem> qa;

  int64_t TurnCount() const;
};

struct Dataset {
  DatasetKind kind = DatasetKind::kLocomo;
  std::string source;  // the file it was read from
  std::vector<Conversation> conversations;
};

struct LoadOptions {
  // Keep LoCoMo's category-5 (adversarial) questions.
  bool include_adversarial = false;
  // LongMemEval: keep the haystack sessions (false reads questions only, for stats).
  bool keep_sessions = true;
};

// Loads any supported dataset file. The synthetic world is read as the LoCoMo file it is.
absl::StatusOr<Dataset> LoadDataset(DatasetKind kind, const std::string& path,
                                    const LoadOptions& options = {});
// From the job config's data section (dataset, path, include_adversarial).
absl::StatusOr<Dataset> LoadDataset(const v1::DataConfig& config);

// Conversations per split, in file order. A negative `test` takes every conversation left.
struct SplitSpec {
  int train = 1;
  int validation = 1;
  int test = 8;
};
// Splits of the job config (DataConfig train/validation/test_conversations).
SplitSpec SplitSpecFrom(const v1::DataConfig& config);

enum class Split { kTrain, kValidation, kTest };
const char* SplitName(Split split);

// The conversations of each split, pointing into the Dataset (which must outlive them).
struct DatasetSplits {
  std::vector<const Conversation*> train;
  std::vector<const Conversation*> validation;
  std::vector<const Conversation*> test;
  const std::vector<const Conversation*>& Get(Split split) const;
};
// InvalidArgument when the spec asks for more conversations than the dataset has.
absl::StatusOr<DatasetSplits> SplitDataset(const Dataset& dataset, const SplitSpec& spec);

// Counts for `memr1 data stats`.
struct SplitStats {
  int64_t conversations = 0;
  int64_t sessions = 0;
  int64_t turns = 0;
  int64_t questions = 0;
  std::map<int, int64_t> questions_by_category;
};
struct DatasetStats {
  SplitStats train, validation, test, all;
};
DatasetStats ComputeStats(const DatasetSplits& splits);
void AddToStats(const Conversation& conversation, SplitStats* stats);

// Renders stats as a markdown table (rows: splits and all; columns: counts and categories).
std::string StatsToMarkdown(const DatasetStats& stats, eval::CategoryNaming naming);
std::string StatsToJson(const DatasetStats& stats, eval::CategoryNaming naming);

}  // namespace memr1::actor
