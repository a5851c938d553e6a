#pragma once

// A BankStore holds the memory banks of one memstore shard in one RocksDB instance.
//
// Layout (column families; every key of bank data starts with "<job>\0", see names.h):
//   memories  one record per version of a memory: (bank uid, memory, seq, op_index) ->
//             MemoryVersion with the memory's state after the op (DELETE: a tombstone).
//   oplog     every applied op in (seq, op_index) order, NOOPs included -> MemoryVersion
//             without the state (the bank's full history).
//   index     secondary indexes: forks of each bank, banks by expiry time, and the live memory
//             count after each seq.
//   banks     bank name -> uid, and uid -> StoredBank (seq, parent, embedding dim, ...).
//   requests  (bank uid, request_id) -> the ApplyResponse first returned for it.
//
// Atomicity. Each mutating call (CreateBank, Apply, Fork, Drop, Import) validates everything
// first and then writes one WriteBatch: it lands completely or not at all, also across a crash.
// The write-ahead log is always on; with `sync_writes` it is fsynced before a call returns, so
// an acknowledged Apply survives power loss, otherwise a process crash (kill -9).
//
// Versions and forks. Reading "as of seq N" takes each memory's latest version with seq <= N.
// A fork is a new bank (new uid) whose StoredBank points at its source's uid and the seq it
// was forked at: no data is copied (O(1) in the bank's size); reads of the fork fall through
// to the source for memories the fork has not written. When a chain of forks would be deeper
// than `max_fork_depth`, Fork copies the state instead (an export/import inside the store), so
// reads never walk long chains. Drop removes a bank's name at once and its data when no fork
// shares it any more.
//
// Search at a bank's latest seq uses a BankIndex kept in memory for the `cached_banks` most
// recently used banks and updated in place by Apply; point-in-time searches build one from
// storage.
//
// Thread safety: all public methods are thread safe. Operations on one bank are serialized
// (Apply takes the bank's lock exclusively, reads share it); CreateBank, Fork, Drop, Import
// and ExpireBanks are serialized with each other.

#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "memr1/v1/config.pb.h"
#include "memr1/v1/memstore.pb.h"
#include "memstore/bank_index.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace memr1::memstore {

struct StoreOptions {
  // The RocksDB directory (created when missing).
  std::string data_dir;
  int max_text_bytes = 16384;
  int max_ops_per_request = 1024;
  // Default TTL of new banks; 0: banks never expire.
  int64_t bank_ttl_seconds = 3600;
  bool sync_writes = false;
  int max_fork_depth = 8;
  int cached_banks = 1024;

  // Takes the limits of `config` (data_dir too when non-empty).
  static StoreOptions FromConfig(const v1::MemstoreConfig& config);
  // InvalidArgument naming the bad field.
  absl::Status Validate() const;
};

class BankStore {
 public:
  // Opens (creating when missing) the store in options.data_dir. Errors: InvalidArgument for
  // bad options, Internal when RocksDB cannot open the directory (e.g. another process holds
  // it).
  static absl::StatusOr<std::unique_ptr<BankStore>> Open(StoreOptions options);
  ~BankStore();
  BankStore(const BankStore&) = delete;
  BankStore& operator=(const BankStore&) = delete;

  const StoreOptions& options() const { return options_; }

  // Every method below acts on the banks of `job` only (a valid job name, see names.h).

  // AlreadyExists when the bank exists; InvalidArgument for a bad name or TTL.
  absl::StatusOr<v1::BankInfo> CreateBank(absl::string_view job,
                                          const v1::CreateBankRequest& request);
  absl::StatusOr<v1::BankInfo> GetBank(absl::string_view job, absl::string_view bank);
  absl::StatusOr<v1::ListBanksResponse> ListBanks(absl::string_view job,
                                                  const v1::ListBanksRequest& request);

  // Applies request.ops in order, atomically, as the bank's next seq. Errors (bank unchanged):
  // NotFound for an unknown bank or a missing/deleted memory named by UPDATE/DELETE/NOOP;
  // InvalidArgument for too many ops, an unspecified event, empty or oversized text, a
  // malformed memory id, an embedding of the wrong dimension or with NaN/Inf. Messages name the
  // op index. A request_id this bank has applied before returns the stored first response
  // (replayed = true) without applying again.
  absl::StatusOr<v1::ApplyResponse> Apply(absl::string_view job, const v1::ApplyRequest& request);

  // NotFound when the memory does not exist (or is deleted) at the seq read.
  absl::StatusOr<v1::Memory> Get(absl::string_view job, const v1::GetRequest& request);
  absl::StatusOr<v1::ListResponse> List(absl::string_view job, const v1::ListRequest& request);
  // NotFound when the memory never existed in the bank.
  absl::StatusOr<v1::HistoryResponse> History(absl::string_view job,
                                              const v1::HistoryRequest& request);
  absl::StatusOr<v1::SearchResponse> Search(absl::string_view job,
                                            const v1::SearchRequest& request);

  // NotFound for an unknown source, AlreadyExists for an existing target, InvalidArgument for
  // at_seq above the source's seq.
  absl::StatusOr<v1::BankInfo> Fork(absl::string_view job, const v1::ForkRequest& request);
  // NotFound for an unknown bank.
  absl::Status Drop(absl::string_view job, absl::string_view bank);

  // Calls `sink` with the bank's records in export order (see ExportRecord in memstore.proto);
  // stops at and returns the first error of `sink`. Reads one consistent snapshot.
  absl::Status Export(absl::string_view job, absl::string_view bank,
                      const std::function<absl::Status(v1::ExportRecord)>& sink);
  // Creates `bank` from exported records (checked completely before one write).
  // InvalidArgument names the first bad record; AlreadyExists when the bank exists.
  absl::StatusOr<v1::BankInfo> Import(absl::string_view job, absl::string_view bank,
                                      const std::vector<v1::ExportRecord>& records);

  // Drops every bank (of every job) whose expiry time is <= `now`; returns how many.
  absl::StatusOr<int> ExpireBanks(absl::Time now);

  // The shard list this shard serves: the first call stores `claimed` (durably); later calls
  // return FailedPrecondition naming both when `claimed` differs from the stored identity.
  absl::Status CheckShardIdentity(const v1::ShardIdentity& claimed);

 private:
  struct Handles;
  struct CacheEntry {
    uint64_t seq = 0;
    std::shared_ptr<BankIndex> index;
    std::list<std::string>::iterator lru;
  };

  BankStore(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
            std::unique_ptr<Handles> handles);

  absl::Mutex& BankMutex(absl::string_view job, absl::string_view bank);

  absl::StatusOr<v1::StoredBank> LoadBank(absl::string_view job, absl::string_view bank);
  absl::StatusOr<v1::StoredBank> LoadBankByUid(absl::string_view job, uint64_t uid);
  // The seq to read for `as_of_seq` (0: latest); InvalidArgument when above the bank's seq.
  absl::StatusOr<uint64_t> ResolveSeq(const v1::StoredBank& bank, uint64_t as_of_seq);
  v1::BankInfo ToInfo(const v1::StoredBank& bank) const;

  // The memory's latest version with seq <= `seq`, through the fork chain; nullopt if none.
  absl::StatusOr<std::optional<v1::MemoryVersion>> LatestVersion(absl::string_view job,
                                                                 const v1::StoredBank& bank,
                                                                 uint64_t memory, uint64_t seq);
  // Every version of the memory with seq <= `seq`, oldest first, through the fork chain.
  absl::Status CollectVersions(absl::string_view job, const v1::StoredBank& bank,
                               uint64_t memory, uint64_t seq,
                               std::vector<v1::MemoryVersion>* out);
  // Fills `index` with the live memories at `seq`.
  absl::Status CollectState(absl::string_view job, const v1::StoredBank& bank, uint64_t seq,
                            BankIndex* index);
  absl::Status CollectStateInto(absl::string_view job, const v1::StoredBank& bank, uint64_t seq,
                                std::unordered_set<uint64_t>* decided, BankIndex* index);
  // Op log records with seq <= `seq`, in order, through the fork chain (versions with state).
  absl::Status CollectLog(absl::string_view job, const v1::StoredBank& bank, uint64_t seq,
                          const std::function<absl::Status(v1::MemoryVersion)>& sink);
  absl::StatusOr<uint64_t> CountAt(absl::string_view job, const v1::StoredBank& bank,
                                   uint64_t seq);

  // The index of the bank at `seq`: the cached one at the latest seq, else built from storage.
  // Caller holds the bank's lock (shared).
  absl::StatusOr<std::shared_ptr<const BankIndex>> IndexAt(absl::string_view job,
                                                           const v1::StoredBank& bank,
                                                           uint64_t seq);
  // A fork's index at `seq` (>= its fork point) made from its parent's cached index at the
  // fork point plus the fork's own versions; null when the parent's index is not cached at
  // that seq (or its lock is busy). Caller holds the fork's lock (shared).
  absl::StatusOr<std::shared_ptr<BankIndex>> CloneParentIndex(absl::string_view job,
                                                              const v1::StoredBank& bank,
                                                              uint64_t seq);
  std::string CacheKey(absl::string_view job, uint64_t uid) const;
  std::shared_ptr<BankIndex> CacheLookup(const std::string& key, uint64_t seq);
  void CacheInsert(const std::string& key, uint64_t seq, std::shared_ptr<BankIndex> index);
  void CacheErase(const std::string& key);

  // Export records of `bank` as of `seq` (the header's seq is `seq`).
  absl::Status CollectExport(absl::string_view job, const v1::StoredBank& bank, uint64_t seq,
                             bool with_requests, std::vector<v1::ExportRecord>* records);
  // Creates bank `name` from `records`; `parent_name`/`parent_seq` are informational (a fork
  // that copied its state).
  absl::StatusOr<v1::BankInfo> ImportLocked(absl::string_view job, absl::string_view name,
                                            const std::vector<v1::ExportRecord>& records,
                                            int64_t expires_unix_micros,
                                            absl::string_view parent_name, uint64_t parent_seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog_mu_);
  // Writes `batch` (fsynced when options_.sync_writes).
  absl::Status Commit(rocksdb::WriteBatch* batch);
  absl::Status DropLocked(absl::string_view job, absl::string_view bank)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(catalog_mu_);
  absl::StatusOr<int64_t> ExpiryFor(const std::optional<int64_t>& ttl_seconds, int64_t now) const;

  const StoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<Handles> handles_;

  // Structural changes (create, fork, drop, import, expiry) and the uid counter.
  absl::Mutex catalog_mu_;
  uint64_t next_uid_ ABSL_GUARDED_BY(catalog_mu_) = 1;

  // Per-bank locks, striped by bank name.
  static constexpr int kStripes = 64;
  absl::Mutex stripes_[kStripes];

  absl::Mutex cache_mu_;
  std::unordered_map<std::string, CacheEntry> cache_ ABSL_GUARDED_BY(cache_mu_);
  std::list<std::string> lru_ ABSL_GUARDED_BY(cache_mu_);

  absl::Mutex identity_mu_;
  std::optional<v1::ShardIdentity> identity_ ABSL_GUARDED_BY(identity_mu_);
};

}  // namespace memr1::memstore
