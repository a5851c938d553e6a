// BankStore: opening, the catalog (create, fork, drop, expiry), Apply and the search cache.
// Reads, export and import are in bank_store_reads.cc.

#include "memstore/bank_store.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <cmath>
#include <filesystem>
#include <map>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "memstore/bank_store_internal.h"
#include "memstore/names.h"

namespace memr1::memstore {

using internal::FromRocks;
using internal::NowMicros;
using internal::ParseStored;

namespace {

constexpr char kNextUidKey[] = "next_uid";
constexpr char kShardIdentityKey[] = "shard_identity";

const char* EventName(v1::MemoryEvent event) {
  switch (event) {
    case v1::ADD:
      return "ADD";
    case v1::UPDATE:
      return "UPDATE";
    case v1::DELETE:
      return "DELETE";
    case v1::NOOP:
      return "NOOP";
    default:
      return "UNSPECIFIED";
  }
}

std::string Uint64Bytes(uint64_t value) {
  std::string bytes;
  internal::AppendBigEndian64(value, &bytes);
  return bytes;
}

}  // namespace

namespace internal {

std::string CountPrefix(absl::string_view job, uint64_t uid) {
  return absl::StrCat("k", BankDataPrefix(job, uid));
}

std::string CountKey(absl::string_view job, uint64_t uid, uint64_t seq) {
  std::string key = CountPrefix(job, uid);
  AppendBigEndian64(seq, &key);
  return key;
}

}  // namespace internal

StoreOptions StoreOptions::FromConfig(const v1::MemstoreConfig& config) {
  StoreOptions options;
  options.data_dir = config.data_dir();
  options.max_text_bytes = config.max_text_bytes();
  options.max_ops_per_request = config.max_ops_per_request();
  options.bank_ttl_seconds = config.bank_ttl_seconds();
  options.sync_writes = config.sync_writes();
  options.max_fork_depth = config.max_fork_depth();
  options.cached_banks = config.cached_banks();
  return options;
}

absl::Status StoreOptions::Validate() const {
  if (data_dir.empty()) return absl::InvalidArgumentError("memstore: data_dir is empty");
  if (max_text_bytes < 1) return absl::InvalidArgumentError("memstore: max_text_bytes < 1");
  if (max_ops_per_request < 1) {
    return absl::InvalidArgumentError("memstore: max_ops_per_request < 1");
  }
  if (bank_ttl_seconds < 0) return absl::InvalidArgumentError("memstore: bank_ttl_seconds < 0");
  if (max_fork_depth < 0) return absl::InvalidArgumentError("memstore: max_fork_depth < 0");
  if (cached_banks < 0) return absl::InvalidArgumentError("memstore: cached_banks < 0");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BankStore>> BankStore::Open(StoreOptions options) {
  MEMR1_RETURN_IF_ERROR(options.Validate());
  std::error_code error;
  std::filesystem::create_directories(options.data_dir, error);
  if (error) {
    return absl::InternalError(absl::StrCat("memstore: cannot create data dir '",
                                            options.data_dir, "': ", error.message()));
  }
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  rocksdb::ColumnFamilyOptions cf_options;
  const std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, "memories", "oplog",
                                          "index", "banks", "requests"};
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& name : names) descriptors.emplace_back(name, cf_options);
  auto handles = std::make_unique<Handles>();
  rocksdb::DB* raw = nullptr;
  MEMR1_RETURN_IF_ERROR(Annotate(
      FromRocks(rocksdb::DB::Open(db_options, options.data_dir, descriptors, &handles->all, &raw),
                "open"),
      absl::StrCat("memstore data dir '", options.data_dir, "'")));
  std::unique_ptr<rocksdb::DB> db(raw);
  handles->default_cf = handles->all[0];
  handles->memories = handles->all[1];
  handles->oplog = handles->all[2];
  handles->index = handles->all[3];
  handles->banks = handles->all[4];
  handles->requests = handles->all[5];
  std::unique_ptr<BankStore> store(
      new BankStore(std::move(options), std::move(db), std::move(handles)));

  std::string value;
  rocksdb::Status status =
      store->db_->Get(rocksdb::ReadOptions(), store->handles_->default_cf, kNextUidKey, &value);
  if (status.ok()) {
    absl::MutexLock lock(&store->catalog_mu_);
    store->next_uid_ = internal::ReadBigEndian64(value);
  } else if (!status.IsNotFound()) {
    return FromRocks(status, "read next_uid");
  }
  status = store->db_->Get(rocksdb::ReadOptions(), store->handles_->default_cf,
                           kShardIdentityKey, &value);
  if (status.ok()) {
    v1::ShardIdentity identity;
    MEMR1_RETURN_IF_ERROR(ParseStored(value, &identity, "shard identity"));
    absl::MutexLock lock(&store->identity_mu_);
    store->identity_ = identity;
  } else if (!status.IsNotFound()) {
    return FromRocks(status, "read shard identity");
  }
  return store;
}

BankStore::BankStore(StoreOptions options, std::unique_ptr<rocksdb::DB> db,
                     std::unique_ptr<Handles> handles)
    : options_(std::move(options)), db_(std::move(db)), handles_(std::move(handles)) {}

BankStore::~BankStore() {
  if (db_ == nullptr) return;
  for (rocksdb::ColumnFamilyHandle* handle : handles_->all) {
    db_->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
  }
  db_->Close().PermitUncheckedError();
}

absl::Mutex& BankStore::BankMutex(absl::string_view job, absl::string_view bank) {
  const size_t hash = std::hash<std::string>()(absl::StrCat(job, "/", bank));
  return stripes_[hash % kStripes];
}

absl::StatusOr<int64_t> BankStore::ExpiryFor(const std::optional<int64_t>& ttl_seconds,
                                             int64_t now) const {
  const int64_t ttl = ttl_seconds.has_value() ? *ttl_seconds : options_.bank_ttl_seconds;
  if (ttl < 0 || ttl > int64_t{100} * 365 * 86400) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttl_seconds = ", ttl, " is outside 0..3153600000 (0: never expires)"));
  }
  return ttl == 0 ? 0 : now + ttl * 1000000;
}

v1::BankInfo BankStore::ToInfo(const v1::StoredBank& bank) const {
  v1::BankInfo info;
  info.set_bank(bank.name());
  info.set_seq(bank.seq());
  info.set_created_unix_micros(bank.created_unix_micros());
  info.set_parent_bank(bank.parent_name());
  info.set_parent_seq(bank.parent_seq());
  info.set_embedding_dim(bank.embedding_dim());
  info.set_memory_count(bank.memory_count());
  info.set_expires_unix_micros(bank.expires_unix_micros());
  return info;
}

absl::StatusOr<v1::StoredBank> BankStore::LoadBank(absl::string_view job,
                                                   absl::string_view bank) {
  std::string value;
  const rocksdb::Status status = db_->Get(rocksdb::ReadOptions(), handles_->banks,
                                          internal::BankNameKey(job, bank), &value);
  if (status.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("bank '", bank, "' not found"));
  }
  MEMR1_RETURN_IF_ERROR(FromRocks(status, "read bank name"));
  return LoadBankByUid(job, internal::ReadBigEndian64(value));
}

absl::StatusOr<v1::StoredBank> BankStore::LoadBankByUid(absl::string_view job, uint64_t uid) {
  std::string value;
  const rocksdb::Status status =
      db_->Get(rocksdb::ReadOptions(), handles_->banks, internal::BankUidKey(job, uid), &value);
  if (status.IsNotFound()) {
    return absl::DataLossError(absl::StrCat("memstore: bank data ", uid, " missing"));
  }
  MEMR1_RETURN_IF_ERROR(FromRocks(status, "read bank"));
  v1::StoredBank bank;
  MEMR1_RETURN_IF_ERROR(ParseStored(value, &bank, "bank"));
  return bank;
}

absl::StatusOr<v1::BankInfo> BankStore::CreateBank(absl::string_view job,
                                                   const v1::CreateBankRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  const int64_t now = NowMicros();
  std::optional<int64_t> ttl;
  if (request.has_ttl_seconds()) ttl = request.ttl_seconds();
  MEMR1_ASSIGN_OR_RETURN(const int64_t expires, ExpiryFor(ttl, now));
  absl::MutexLock lock(&catalog_mu_);
  if (LoadBank(job, request.bank()).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("bank '", request.bank(), "' already exists"));
  }
  v1::StoredBank bank;
  bank.set_uid(next_uid_);
  bank.set_name(request.bank());
  bank.set_created_unix_micros(now);
  bank.set_embedding_dim(request.embedding_dim());
  bank.set_next_memory(1);
  bank.set_expires_unix_micros(expires);
  rocksdb::WriteBatch batch;
  batch.Put(handles_->banks, internal::BankNameKey(job, bank.name()), Uint64Bytes(bank.uid()));
  batch.Put(handles_->banks, internal::BankUidKey(job, bank.uid()), bank.SerializeAsString());
  batch.Put(handles_->default_cf, kNextUidKey, Uint64Bytes(next_uid_ + 1));
  if (expires > 0) {
    batch.Put(handles_->index, internal::ExpiryKey(expires, job, bank.name()),
              Uint64Bytes(bank.uid()));
  }
  MEMR1_RETURN_IF_ERROR(Commit(&batch));
  ++next_uid_;
  return ToInfo(bank);
}

absl::StatusOr<v1::BankInfo> BankStore::GetBank(absl::string_view job, absl::string_view bank) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(bank));
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank stored, LoadBank(job, bank));
  return ToInfo(stored);
}

absl::StatusOr<v1::ListBanksResponse> BankStore::ListBanks(absl::string_view job,
                                                           const v1::ListBanksRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  if (request.page_size() < 0) {
    return absl::InvalidArgumentError("list banks: page_size < 0");
  }
  const int page_size = request.page_size() == 0 ? 1000 : std::min(request.page_size(), 1000);
  const std::string prefix = internal::BankNameKey(job, "");
  std::vector<std::pair<std::string, uint64_t>> names;
  bool more = false;
  MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
      db_.get(), handles_->banks, prefix, [&](absl::string_view key, absl::string_view value) {
        const absl::string_view name = key.substr(prefix.size());
        if (!request.page_token().empty() && name <= request.page_token()) return true;
        if (static_cast<int>(names.size()) == page_size) {
          more = true;
          return false;
        }
        names.emplace_back(std::string(name), internal::ReadBigEndian64(value));
        return true;
      }));
  v1::ListBanksResponse response;
  for (const auto& [name, uid] : names) {
    MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank bank, LoadBankByUid(job, uid));
    *response.add_banks() = ToInfo(bank);
  }
  if (more && !names.empty()) response.set_next_page_token(names.back().first);
  return response;
}

absl::Status BankStore::Commit(rocksdb::WriteBatch* batch) {
  rocksdb::WriteOptions write;
  write.sync = options_.sync_writes;
  return FromRocks(db_->Write(write, batch), "write");
}

absl::StatusOr<v1::ApplyResponse> BankStore::Apply(absl::string_view job,
                                                   const v1::ApplyRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  MEMR1_RETURN_IF_ERROR(ValidateRequestId(request.request_id()));
  if (request.ops_size() > options_.max_ops_per_request) {
    return absl::InvalidArgumentError(absl::StrCat("apply: ", request.ops_size(),
                                                   " ops in one request; at most ",
                                                   options_.max_ops_per_request, " allowed"));
  }
  // Checks that need no state, before taking the lock.
  std::vector<uint64_t> numbers(request.ops_size(), 0);
  for (int i = 0; i < request.ops_size(); ++i) {
    const v1::Operation& op = request.ops(i);
    const std::string where = absl::StrCat("apply op ", i, " (", EventName(op.event()), ")");
    switch (op.event()) {
      case v1::ADD:
      case v1::UPDATE:
        if (op.text().empty()) return absl::InvalidArgumentError(where + ": text is empty");
        if (op.text().size() > static_cast<size_t>(options_.max_text_bytes)) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": text has ", op.text().size(),
                                                         " bytes; at most ",
                                                         options_.max_text_bytes, " allowed"));
        }
        break;
      case v1::DELETE:
      case v1::NOOP:
        break;
      default:
        return absl::InvalidArgumentError(where + ": event is not ADD/UPDATE/DELETE/NOOP");
    }
    if (op.event() == v1::ADD && !op.memory_id().empty()) {
      return absl::InvalidArgumentError(where + ": ADD must not name a memory_id");
    }
    if (op.event() == v1::UPDATE || op.event() == v1::DELETE ||
        (op.event() == v1::NOOP && !op.memory_id().empty())) {
      MEMR1_ASSIGN_OR_RETURN(numbers[i], ParseMemoryId(op.memory_id(), where + ": memory_id"));
    }
    for (float value : op.embedding()) {
      if (!std::isfinite(value)) {
        return absl::InvalidArgumentError(where + ": embedding has a NaN or infinite value");
      }
    }
  }

  absl::WriterMutexLock bank_lock(&BankMutex(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(v1::StoredBank bank, LoadBank(job, request.bank()));
  const std::string request_key = internal::RequestKey(job, bank.uid(), request.request_id());
  if (!request.request_id().empty()) {
    std::string value;
    const rocksdb::Status status =
        db_->Get(rocksdb::ReadOptions(), handles_->requests, request_key, &value);
    if (status.ok()) {
      v1::ApplyResponse first;
      MEMR1_RETURN_IF_ERROR(ParseStored(value, &first, "request"));
      first.set_replayed(true);
      return first;
    }
    if (!status.IsNotFound()) return FromRocks(status, "read request id");
  }

  const std::string cache_key = CacheKey(job, bank.uid());
  std::shared_ptr<BankIndex> cached = CacheLookup(cache_key, bank.seq());
  // State after the ops so far of the memories this request touches (nullopt: deleted).
  std::map<uint64_t, std::optional<v1::Memory>> touched;
  auto current = [&](uint64_t number) -> absl::StatusOr<std::optional<v1::Memory>> {
    if (auto it = touched.find(number); it != touched.end()) return it->second;
    if (cached != nullptr) {
      const v1::Memory* memory = cached->Find(number);
      if (memory == nullptr) return std::optional<v1::Memory>();
      return std::optional<v1::Memory>(*memory);
    }
    MEMR1_ASSIGN_OR_RETURN(std::optional<v1::MemoryVersion> version,
                           LatestVersion(job, bank, number, bank.seq()));
    if (!version.has_value() || version->deleted()) return std::optional<v1::Memory>();
    return std::optional<v1::Memory>(std::move(*version->mutable_memory()));
  };

  const uint64_t seq = bank.seq() + 1;
  const int64_t now = NowMicros();
  uint32_t dim = bank.embedding_dim();
  uint64_t next_memory = bank.next_memory();
  uint64_t count = bank.memory_count();
  std::vector<v1::MemoryVersion> versions;
  versions.reserve(request.ops_size());
  v1::ApplyResponse response;
  response.set_seq(seq);
  for (int i = 0; i < request.ops_size(); ++i) {
    const v1::Operation& op = request.ops(i);
    const std::string where = absl::StrCat("apply op ", i, " (", EventName(op.event()), ")");
    if (op.embedding_size() > 0) {
      if (dim == 0) dim = static_cast<uint32_t>(op.embedding_size());
      if (static_cast<uint32_t>(op.embedding_size()) != dim) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": embedding has dimension ", op.embedding_size(), "; bank '",
                         bank.name(), "' has ", dim));
      }
    }
    v1::MemoryVersion version;
    version.set_seq(seq);
    version.set_op_index(static_cast<uint32_t>(i));
    version.set_event(op.event());
    version.set_request_id(request.request_id());
    version.set_applied_unix_micros(now);
    std::optional<v1::Memory> before;
    if (numbers[i] != 0) {
      MEMR1_ASSIGN_OR_RETURN(before, current(numbers[i]));
      if (!before.has_value()) {
        return absl::NotFoundError(absl::StrCat(where, ": memory ", op.memory_id(),
                                                " not found in bank '", bank.name(), "'"));
      }
      version.set_memory_id(op.memory_id());
      version.set_old_text(before->text());
    }
    switch (op.event()) {
      case v1::ADD: {
        const uint64_t number = next_memory++;
        v1::Memory memory;
        memory.set_id(MemoryIdFromNumber(number));
        memory.set_text(op.text());
        memory.set_speaker(op.speaker());
        memory.set_turn_id(op.turn_id());
        memory.set_session_time(op.session_time());
        memory.set_created_unix_micros(now);
        memory.set_updated_unix_micros(now);
        memory.set_version(1);
        *memory.mutable_metadata() = op.metadata();
        *memory.mutable_embedding() = op.embedding();
        numbers[i] = number;
        version.set_memory_id(memory.id());
        version.set_new_text(memory.text());
        *version.mutable_memory() = memory;
        touched[number] = std::move(memory);
        ++count;
        break;
      }
      case v1::UPDATE: {
        v1::Memory memory = std::move(*before);
        memory.set_text(op.text());
        if (!op.speaker().empty()) memory.set_speaker(op.speaker());
        if (!op.turn_id().empty()) memory.set_turn_id(op.turn_id());
        if (!op.session_time().empty()) memory.set_session_time(op.session_time());
        if (!op.metadata().empty()) *memory.mutable_metadata() = op.metadata();
        if (op.embedding_size() > 0) *memory.mutable_embedding() = op.embedding();
        memory.set_version(memory.version() + 1);
        memory.set_updated_unix_micros(now);
        version.set_new_text(memory.text());
        *version.mutable_memory() = memory;
        touched[numbers[i]] = std::move(memory);
        break;
      }
      case v1::DELETE:
        version.set_deleted(true);
        touched[numbers[i]] = std::nullopt;
        --count;
        break;
      default:  // NOOP
        if (before.has_value()) {
          version.set_new_text(before->text());
          *version.mutable_memory() = std::move(*before);
        }
        break;
    }
    v1::OpResult* result = response.add_results();
    result->set_event(op.event());
    result->set_memory_id(version.memory_id());
    versions.push_back(std::move(version));
  }

  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < versions.size(); ++i) {
    v1::MemoryVersion& version = versions[i];
    if (numbers[i] != 0) {
      batch.Put(handles_->memories,
                internal::VersionKey(job, bank.uid(), numbers[i], seq, version.op_index()),
                version.SerializeAsString());
    }
    version.clear_memory();  // the op log keeps no state
    batch.Put(handles_->oplog, internal::OpLogKey(job, bank.uid(), seq, version.op_index()),
              version.SerializeAsString());
  }
  bank.set_seq(seq);
  bank.set_next_memory(next_memory);
  bank.set_embedding_dim(dim);
  bank.set_memory_count(count);
  batch.Put(handles_->banks, internal::BankUidKey(job, bank.uid()), bank.SerializeAsString());
  batch.Put(handles_->index, internal::CountKey(job, bank.uid(), seq), Uint64Bytes(count));
  if (!request.request_id().empty()) {
    batch.Put(handles_->requests, request_key, response.SerializeAsString());
  }
  MEMR1_RETURN_IF_ERROR(Commit(&batch));

  if (cached != nullptr) {
    for (auto& [number, memory] : touched) {
      if (memory.has_value()) {
        cached->Put(number, std::move(*memory));
      } else {
        cached->Remove(number);
      }
    }
    CacheInsert(cache_key, seq, std::move(cached));
  }
  return response;
}

absl::StatusOr<v1::BankInfo> BankStore::Fork(absl::string_view job,
                                             const v1::ForkRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.source_bank(), "source bank"));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  const int64_t now = NowMicros();
  std::optional<int64_t> ttl;
  if (request.has_ttl_seconds()) ttl = request.ttl_seconds();
  MEMR1_ASSIGN_OR_RETURN(const int64_t expires, ExpiryFor(ttl, now));
  absl::MutexLock lock(&catalog_mu_);
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank source, LoadBank(job, request.source_bank()));
  if (LoadBank(job, request.bank()).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("bank '", request.bank(), "' already exists"));
  }
  const uint64_t at = request.at_seq() == 0 ? source.seq() : request.at_seq();
  if (at > source.seq()) {
    return absl::InvalidArgumentError(absl::StrCat("fork: at_seq ", at, " is after bank '",
                                                   source.name(), "''s latest seq ",
                                                   source.seq()));
  }
  if (static_cast<int>(source.depth()) + 1 > options_.max_fork_depth) {
    // Too deep to share: copy the state (and history) the fork starts from.
    std::vector<v1::ExportRecord> records;
    MEMR1_RETURN_IF_ERROR(CollectExport(job, source, at, /*with_requests=*/false, &records));
    return ImportLocked(job, request.bank(), records, expires, source.name(), at);
  }
  MEMR1_ASSIGN_OR_RETURN(const uint64_t count, CountAt(job, source, at));
  v1::StoredBank bank;
  bank.set_uid(next_uid_);
  bank.set_name(request.bank());
  bank.set_seq(at);
  bank.set_created_unix_micros(now);
  bank.set_parent_uid(source.uid());
  bank.set_parent_seq(at);
  bank.set_parent_name(source.name());
  bank.set_embedding_dim(source.embedding_dim());
  bank.set_next_memory(source.next_memory());
  bank.set_expires_unix_micros(expires);
  bank.set_depth(source.depth() + 1);
  bank.set_memory_count(count);
  rocksdb::WriteBatch batch;
  batch.Put(handles_->banks, internal::BankNameKey(job, bank.name()), Uint64Bytes(bank.uid()));
  batch.Put(handles_->banks, internal::BankUidKey(job, bank.uid()), bank.SerializeAsString());
  batch.Put(handles_->index, internal::ChildKey(job, source.uid(), bank.uid()), "");
  batch.Put(handles_->default_cf, kNextUidKey, Uint64Bytes(next_uid_ + 1));
  if (expires > 0) {
    batch.Put(handles_->index, internal::ExpiryKey(expires, job, bank.name()),
              Uint64Bytes(bank.uid()));
  }
  MEMR1_RETURN_IF_ERROR(Commit(&batch));
  ++next_uid_;
  return ToInfo(bank);
}

absl::Status BankStore::Drop(absl::string_view job, absl::string_view bank) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(bank));
  absl::MutexLock lock(&catalog_mu_);
  return DropLocked(job, bank);
}

absl::Status BankStore::DropLocked(absl::string_view job, absl::string_view name) {
  absl::WriterMutexLock bank_lock(&BankMutex(job, name));
  MEMR1_ASSIGN_OR_RETURN(v1::StoredBank bank, LoadBank(job, name));
  rocksdb::WriteBatch batch;
  batch.Delete(handles_->banks, internal::BankNameKey(job, name));
  if (bank.expires_unix_micros() > 0) {
    batch.Delete(handles_->index, internal::ExpiryKey(bank.expires_unix_micros(), job, name));
  }
  bank.set_dropped(true);
  std::vector<std::string> evicted;
  uint64_t removed_child = 0;  // a child whose ChildKey this batch deletes
  while (true) {
    bool has_children = false;
    const std::string removed_key =
        removed_child == 0 ? "" : internal::ChildKey(job, bank.uid(), removed_child);
    MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
        db_.get(), handles_->index, internal::ChildPrefix(job, bank.uid()),
        [&](absl::string_view key, absl::string_view) {
          if (key == removed_key) return true;
          has_children = true;
          return false;
        }));
    if (has_children) {
      // Forks still read this data: keep it, under no name, until the last one is dropped.
      batch.Put(handles_->banks, internal::BankUidKey(job, bank.uid()),
                bank.SerializeAsString());
      break;
    }
    const std::string prefix = internal::BankDataPrefix(job, bank.uid());
    for (rocksdb::ColumnFamilyHandle* cf :
         {handles_->memories, handles_->oplog, handles_->requests}) {
      MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
          db_.get(), cf, prefix, [&](absl::string_view key, absl::string_view) {
            batch.Delete(cf, rocksdb::Slice(key.data(), key.size()));
            return true;
          }));
    }
    for (const std::string& index_prefix :
         {internal::CountPrefix(job, bank.uid()), internal::ChildPrefix(job, bank.uid())}) {
      MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
          db_.get(), handles_->index, index_prefix, [&](absl::string_view key, absl::string_view) {
            batch.Delete(handles_->index, rocksdb::Slice(key.data(), key.size()));
            return true;
          }));
    }
    batch.Delete(handles_->banks, internal::BankUidKey(job, bank.uid()));
    evicted.push_back(CacheKey(job, bank.uid()));
    if (bank.parent_uid() == 0) break;
    batch.Delete(handles_->index, internal::ChildKey(job, bank.parent_uid(), bank.uid()));
    removed_child = bank.uid();
    MEMR1_ASSIGN_OR_RETURN(bank, LoadBankByUid(job, bank.parent_uid()));
    if (!bank.dropped()) break;  // a live parent keeps its data
  }
  MEMR1_RETURN_IF_ERROR(Commit(&batch));
  for (const std::string& key : evicted) CacheErase(key);
  return absl::OkStatus();
}

absl::StatusOr<int> BankStore::ExpireBanks(absl::Time now) {
  const int64_t now_micros = absl::ToUnixMicros(now);
  absl::MutexLock lock(&catalog_mu_);
  std::vector<std::pair<std::string, std::string>> expired;  // job, bank
  std::string limit = "x";
  internal::AppendBigEndian64(static_cast<uint64_t>(now_micros) + 1, &limit);
  {
    rocksdb::ReadOptions read;
    rocksdb::Slice upper(limit);
    read.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, handles_->index));
    for (it->Seek("x"); it->Valid(); it->Next()) {
      const absl::string_view key(it->key().data(), it->key().size());
      const absl::string_view rest = key.substr(9);
      const size_t zero = rest.find('\0');
      if (zero == absl::string_view::npos) continue;
      expired.emplace_back(std::string(rest.substr(0, zero)), std::string(rest.substr(zero + 1)));
    }
    MEMR1_RETURN_IF_ERROR(FromRocks(it->status(), "scan expiry"));
  }
  int dropped = 0;
  for (const auto& [job, bank] : expired) {
    const absl::Status status = DropLocked(job, bank);
    if (status.ok()) {
      ++dropped;
    } else if (!absl::IsNotFound(status)) {
      return status;
    }
  }
  return dropped;
}

absl::Status BankStore::CheckShardIdentity(const v1::ShardIdentity& claimed) {
  absl::MutexLock lock(&identity_mu_);
  if (!identity_.has_value()) {
    rocksdb::WriteOptions write;
    write.sync = true;
    MEMR1_RETURN_IF_ERROR(FromRocks(
        db_->Put(write, handles_->default_cf, kShardIdentityKey, claimed.SerializeAsString()),
        "write shard identity"));
    identity_ = claimed;
    return absl::OkStatus();
  }
  if (identity_->fingerprint() != claimed.fingerprint() || identity_->index() != claimed.index() ||
      identity_->count() != claimed.count()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "shard list mismatch: this shard holds the data of shard ", identity_->index(), " of ",
        identity_->count(), " in shard list ", identity_->fingerprint(),
        ", but the client routes to it as shard ", claimed.index(), " of ", claimed.count(),
        " in shard list ", claimed.fingerprint(),
        "; use the shard list the data was written with"));
  }
  return absl::OkStatus();
}

std::string BankStore::CacheKey(absl::string_view job, uint64_t uid) const {
  return internal::BankDataPrefix(job, uid);
}

std::shared_ptr<BankIndex> BankStore::CacheLookup(const std::string& key, uint64_t seq) {
  absl::MutexLock lock(&cache_mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return nullptr;
  if (it->second.seq != seq) {
    lru_.erase(it->second.lru);
    cache_.erase(it);
    return nullptr;
  }
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.index;
}

void BankStore::CacheInsert(const std::string& key, uint64_t seq,
                            std::shared_ptr<BankIndex> index) {
  if (options_.cached_banks == 0) return;
  absl::MutexLock lock(&cache_mu_);
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    it->second.seq = seq;
    it->second.index = std::move(index);
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return;
  }
  lru_.push_front(key);
  cache_[key] = CacheEntry{seq, std::move(index), lru_.begin()};
  while (static_cast<int>(cache_.size()) > options_.cached_banks) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
}

void BankStore::CacheErase(const std::string& key) {
  absl::MutexLock lock(&cache_mu_);
  auto it = cache_.find(key);
  if (it == cache_.end()) return;
  lru_.erase(it->second.lru);
  cache_.erase(it);
}

}  // namespace memr1::memstore
