#pragma once

// StateStore: the coordinator's durable state in one RocksDB instance (coordinator.state_dir).
//
// Keys: "meta" (phase, error, counters, latest checkpoint, the job's fingerprint), one
// "unit/<step>/<index>" per work unit that was ever leased, one "version/<v>" per published
// policy version. Values are JSON objects (readable with `ldb`, stable across builds).
//
// Durability: every Commit is one atomic WriteBatch written with the WAL and sync = true, so a
// change the coordinator told a peer about (an accepted CompleteWork, a lease with its attempt, a
// published version, a phase change) survives kill -9 and power loss. The coordinator writes a
// few records per work unit (seconds of episode work each), so the fsync costs nothing that
// matters, and it keeps attempt numbers from ever being reused after a crash — a lost lease
// record could otherwise hand out the same (unit, attempt) twice.
//
// Thread safety: not thread safe; JobState's owner serializes calls.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memr1/v1/coordinator.pb.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace memr1::coordinator {

enum class UnitState { kPending, kLeased, kDone };

struct UnitRecord {
  int64_t step = 0;
  int index = 0;
  // 0 = never leased; the attempt of the newest lease otherwise.
  int attempt = 0;
  UnitState state = UnitState::kPending;
  // The role that holds (kLeased) or completed (kDone) the unit.
  std::string holder;
  // kDone: what was accepted.
  int accepted_attempt = 0;
  int trajectories = 0;
  double reward_sum = 0;
  int64_t policy_version = -1;
};

struct VersionRecord {
  int64_t version = 0;
  std::string hash;
  std::map<std::string, double> metrics;
  std::string checkpoint_dir;
  int64_t published_unix_ms = 0;
};

struct JobMeta {
  v1::JobPhase phase = v1::JOB_PHASE_STARTING;
  std::string error;
  // What defines the work queue; a state_dir of another job is refused on open.
  std::string fingerprint;
  int64_t late_completions_refused = 0;
  int64_t units_released = 0;
  int64_t trajectories_accepted = 0;
  int64_t hash_mismatches = 0;
  std::string latest_checkpoint;
  int64_t latest_checkpoint_version = -1;
  // CHECKPOINTING: the step whose checkpoint is awaited (version step + 1 with a directory).
  int64_t checkpoint_step = -1;
  int64_t restarts = 0;
};

struct LoadedState {
  bool fresh = true;  // no "meta" yet: a new job
  JobMeta meta;
  std::vector<UnitRecord> units;        // by (step, index)
  std::vector<VersionRecord> versions;  // by version
};

class StateStore {
 public:
  // One atomic group of writes.
  class Batch {
   public:
    Batch();
    ~Batch();
    void Put(const JobMeta& meta);
    void Put(const UnitRecord& unit);
    void Put(const VersionRecord& version);
    // Forgets a published version (resume from a checkpoint before it).
    void DeleteVersion(int64_t version);
    bool empty() const;

   private:
    friend class StateStore;
    std::unique_ptr<rocksdb::WriteBatch> batch_;
  };

  // Opens (creating) the RocksDB directory. Errors name the directory.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& dir);
  ~StateStore();
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Everything stored. DataLoss naming the key for a record that does not parse.
  absl::StatusOr<LoadedState> Load() const;
  // Writes the batch atomically and durably (see the file comment).
  absl::Status Commit(Batch* batch);

  const std::string& dir() const { return dir_; }

 private:
  StateStore(std::string dir, std::unique_ptr<rocksdb::DB> db);

  std::string dir_;
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace memr1::coordinator
