#include "coordinator/state_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace memr1::coordinator {
namespace {

using Json = nlohmann::json;

constexpr char kMetaKey[] = "meta";
constexpr char kUnitPrefix[] = "unit/";
constexpr char kVersionPrefix[] = "version/";

absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what,
                       absl::string_view dir) {
  if (status.ok()) return absl::OkStatus();
  const std::string message =
      absl::StrCat("coordinator state '", dir, "': ", what, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsIOError() || status.IsBusy()) return absl::UnavailableError(message);
  return absl::InternalError(message);
}

// Zero-padded so that keys sort by number.
std::string UnitKey(int64_t step, int index) {
  return absl::StrFormat("%s%012d/%08d", kUnitPrefix, step, index);
}
std::string VersionKey(int64_t version) {
  return absl::StrFormat("%s%012d", kVersionPrefix, version);
}

const char* UnitStateName(UnitState state) {
  switch (state) {
    case UnitState::kPending:
      return "pending";
    case UnitState::kLeased:
      return "leased";
    case UnitState::kDone:
      return "done";
  }
  return "pending";
}

absl::StatusOr<UnitState> ParseUnitState(const std::string& name) {
  if (name == "pending") return UnitState::kPending;
  if (name == "leased") return UnitState::kLeased;
  if (name == "done") return UnitState::kDone;
  return absl::DataLossError(absl::StrCat("unknown unit state '", name, "'"));
}

Json MetaToJson(const JobMeta& meta) {
  return Json{{"phase", static_cast<int>(meta.phase)},
              {"error", meta.error},
              {"fingerprint", meta.fingerprint},
              {"late_completions_refused", meta.late_completions_refused},
              {"units_released", meta.units_released},
              {"trajectories_accepted", meta.trajectories_accepted},
              {"hash_mismatches", meta.hash_mismatches},
              {"latest_checkpoint", meta.latest_checkpoint},
              {"latest_checkpoint_version", meta.latest_checkpoint_version},
              {"checkpoint_step", meta.checkpoint_step},
              {"restarts", meta.restarts}};
}

absl::StatusOr<JobMeta> MetaFromJson(const Json& json) {
  JobMeta meta;
  const int phase = json.at("phase").get<int>();
  if (!v1::JobPhase_IsValid(phase)) {
    return absl::DataLossError(absl::StrCat("unknown job phase ", phase));
  }
  meta.phase = static_cast<v1::JobPhase>(phase);
  meta.error = json.at("error").get<std::string>();
  meta.fingerprint = json.at("fingerprint").get<std::string>();
  meta.late_completions_refused = json.at("late_completions_refused").get<int64_t>();
  meta.units_released = json.at("units_released").get<int64_t>();
  meta.trajectories_accepted = json.at("trajectories_accepted").get<int64_t>();
  meta.hash_mismatches = json.at("hash_mismatches").get<int64_t>();
  meta.latest_checkpoint = json.at("latest_checkpoint").get<std::string>();
  meta.latest_checkpoint_version = json.at("latest_checkpoint_version").get<int64_t>();
  meta.checkpoint_step = json.at("checkpoint_step").get<int64_t>();
  meta.restarts = json.at("restarts").get<int64_t>();
  return meta;
}

Json UnitToJson(const UnitRecord& unit) {
  return Json{{"step", unit.step},
              {"index", unit.index},
              {"attempt", unit.attempt},
              {"state", UnitStateName(unit.state)},
              {"holder", unit.holder},
              {"accepted_attempt", unit.accepted_attempt},
              {"trajectories", unit.trajectories},
              {"reward_sum", unit.reward_sum},
              {"policy_version", unit.policy_version}};
}

absl::StatusOr<UnitRecord> UnitFromJson(const Json& json) {
  UnitRecord unit;
  unit.step = json.at("step").get<int64_t>();
  unit.index = json.at("index").get<int>();
  unit.attempt = json.at("attempt").get<int>();
  MEMR1_ASSIGN_OR_RETURN(unit.state, ParseUnitState(json.at("state").get<std::string>()));
  unit.holder = json.at("holder").get<std::string>();
  unit.accepted_attempt = json.at("accepted_attempt").get<int>();
  unit.trajectories = json.at("trajectories").get<int>();
  unit.reward_sum = json.at("reward_sum").get<double>();
  unit.policy_version = json.at("policy_version").get<int64_t>();
  return unit;
}

Json VersionToJson(const VersionRecord& version) {
  Json metrics = Json::object();
  for (const auto& [name, value] : version.metrics) metrics[name] = value;
  return Json{{"version", version.version},
              {"hash", version.hash},
              {"metrics", metrics},
              {"checkpoint_dir", version.checkpoint_dir},
              {"published_unix_ms", version.published_unix_ms}};
}

absl::StatusOr<VersionRecord> VersionFromJson(const Json& json) {
  VersionRecord version;
  version.version = json.at("version").get<int64_t>();
  version.hash = json.at("hash").get<std::string>();
  for (const auto& [name, value] : json.at("metrics").items()) {
    version.metrics[name] = value.get<double>();
  }
  version.checkpoint_dir = json.at("checkpoint_dir").get<std::string>();
  version.published_unix_ms = json.at("published_unix_ms").get<int64_t>();
  return version;
}

// Parses one stored value with `parse`, turning JSON errors into DataLoss naming the key.
template <typename T, typename Parse>
absl::StatusOr<T> ParseRecord(const std::string& key, const std::string& value, Parse parse) {
  try {
    absl::StatusOr<T> record = parse(Json::parse(value));
    if (!record.ok()) return Annotate(record.status(), absl::StrCat("record '", key, "'"));
    return record;
  } catch (const Json::exception& e) {
    return absl::DataLossError(absl::StrCat("record '", key, "' does not parse: ", e.what()));
  }
}

}  // namespace

StateStore::Batch::Batch() : batch_(std::make_unique<rocksdb::WriteBatch>()) {}
StateStore::Batch::~Batch() = default;

void StateStore::Batch::Put(const JobMeta& meta) {
  batch_->Put(kMetaKey, MetaToJson(meta).dump());
}
void StateStore::Batch::Put(const UnitRecord& unit) {
  batch_->Put(UnitKey(unit.step, unit.index), UnitToJson(unit).dump());
}
void StateStore::Batch::Put(const VersionRecord& version) {
  batch_->Put(VersionKey(version.version), VersionToJson(version).dump());
}
void StateStore::Batch::DeleteVersion(int64_t version) { batch_->Delete(VersionKey(version)); }
bool StateStore::Batch::empty() const { return batch_->Count() == 0; }

StateStore::StateStore(std::string dir, std::unique_ptr<rocksdb::DB> db)
    : dir_(std::move(dir)), db_(std::move(db)) {}

StateStore::~StateStore() = default;

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(const std::string& dir) {
  if (dir.empty()) return absl::InvalidArgumentError("coordinator state dir is empty");
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("cannot create coordinator state dir '", dir, "': ", error.message()));
  }
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  MEMR1_RETURN_IF_ERROR(FromRocks(rocksdb::DB::Open(options, dir, &raw), "open", dir));
  return std::unique_ptr<StateStore>(new StateStore(dir, std::unique_ptr<rocksdb::DB>(raw)));
}

absl::StatusOr<LoadedState> StateStore::Load() const {
  LoadedState state;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const std::string value = it->value().ToString();
    if (key == kMetaKey) {
      MEMR1_ASSIGN_OR_RETURN(state.meta, ParseRecord<JobMeta>(key, value, MetaFromJson));
      state.fresh = false;
    } else if (absl::StartsWith(key, kUnitPrefix)) {
      MEMR1_ASSIGN_OR_RETURN(UnitRecord unit, ParseRecord<UnitRecord>(key, value, UnitFromJson));
      state.units.push_back(std::move(unit));
    } else if (absl::StartsWith(key, kVersionPrefix)) {
      MEMR1_ASSIGN_OR_RETURN(VersionRecord version,
                             ParseRecord<VersionRecord>(key, value, VersionFromJson));
      state.versions.push_back(std::move(version));
    } else {
      return absl::DataLossError(
          absl::StrCat("coordinator state '", dir_, "': unexpected key '", key, "'"));
    }
  }
  MEMR1_RETURN_IF_ERROR(FromRocks(it->status(), "scan", dir_));
  return state;
}

absl::Status StateStore::Commit(Batch* batch) {
  if (batch->empty()) return absl::OkStatus();
  rocksdb::WriteOptions write;
  write.sync = true;
  return FromRocks(db_->Write(write, batch->batch_.get()), "write", dir_);
}

}  // namespace memr1::coordinator
