// BankStore: reads (point-in-time through fork chains), search, export and import.

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <functional>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "memstore/bank_store.h"
#include "memstore/bank_store_internal.h"
#include "memstore/names.h"

namespace memr1::memstore {

using internal::FromRocks;
using internal::NowMicros;
using internal::ParseStored;

namespace {

// The memory number of a memories-column-family key under `prefix` (a bank data prefix).
uint64_t MemoryNumberOf(absl::string_view key, size_t prefix_size) {
  return internal::ReadBigEndian64(key.substr(prefix_size, 8));
}
uint64_t SeqOfVersionKey(absl::string_view key, size_t prefix_size) {
  return internal::ReadBigEndian64(key.substr(prefix_size + 8, 8));
}

// Calls `fn(memory_number, bytes)` once per memory under `prefix`, with the bytes of its newest
// version at or before `seq`; memories with no such version are skipped. Versions are stored
// grouped by memory, oldest first, so one pass suffices. The first error of `fn` or of the scan
// stops it and is returned.
absl::Status ForEachVersionAsOf(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const std::string& prefix, uint64_t seq,
    const std::function<absl::Status(uint64_t, const std::string&)>& fn) {
  uint64_t group = 0;
  std::string latest;
  absl::Status status;
  const auto finish_group = [&]() {
    if (group != 0 && !latest.empty() && status.ok()) status = fn(group, latest);
  };
  MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
      db, cf, prefix, [&](absl::string_view key, absl::string_view value) {
        const uint64_t number = MemoryNumberOf(key, prefix.size());
        if (number != group) {
          finish_group();
          group = number;
          latest.clear();
        }
        if (SeqOfVersionKey(key, prefix.size()) <= seq) latest.assign(value.data(), value.size());
        return status.ok();
      }));
  finish_group();
  return status;
}

}  // namespace

absl::StatusOr<uint64_t> BankStore::ResolveSeq(const v1::StoredBank& bank, uint64_t as_of_seq) {
  if (as_of_seq == 0) return bank.seq();
  if (as_of_seq > bank.seq()) {
    return absl::InvalidArgumentError(absl::StrCat("as_of_seq ", as_of_seq, " is after bank '",
                                                   bank.name(), "''s latest seq ", bank.seq()));
  }
  return as_of_seq;
}

absl::StatusOr<std::optional<v1::MemoryVersion>> BankStore::LatestVersion(
    absl::string_view job, const v1::StoredBank& bank, uint64_t memory, uint64_t seq) {
  const std::string prefix = internal::MemoryPrefix(job, bank.uid(), memory);
  const std::string target = internal::VersionKey(job, bank.uid(), memory, seq, UINT32_MAX);
  rocksdb::ReadOptions read;
  rocksdb::Slice lower(prefix);
  read.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, handles_->memories));
  it->SeekForPrev(target);
  if (it->Valid() && it->key().starts_with(prefix)) {
    v1::MemoryVersion version;
    MEMR1_RETURN_IF_ERROR(ParseStored(it->value().ToString(), &version, "memory version"));
    return std::optional<v1::MemoryVersion>(std::move(version));
  }
  MEMR1_RETURN_IF_ERROR(FromRocks(it->status(), "read memory"));
  if (bank.parent_uid() == 0) return std::optional<v1::MemoryVersion>();
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank parent, LoadBankByUid(job, bank.parent_uid()));
  return LatestVersion(job, parent, memory, std::min(seq, bank.parent_seq()));
}

absl::Status BankStore::CollectVersions(absl::string_view job, const v1::StoredBank& bank,
                                        uint64_t memory, uint64_t seq,
                                        std::vector<v1::MemoryVersion>* out) {
  if (bank.parent_uid() != 0) {
    MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank parent, LoadBankByUid(job, bank.parent_uid()));
    MEMR1_RETURN_IF_ERROR(
        CollectVersions(job, parent, memory, std::min(seq, bank.parent_seq()), out));
  }
  const std::string prefix = internal::MemoryPrefix(job, bank.uid(), memory);
  absl::Status parse_status;
  MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
      db_.get(), handles_->memories, prefix, [&](absl::string_view key, absl::string_view value) {
        if (internal::ReadBigEndian64(key.substr(prefix.size(), 8)) > seq) return false;
        v1::MemoryVersion version;
        parse_status = ParseStored(std::string(value), &version, "memory version");
        if (!parse_status.ok()) return false;
        out->push_back(std::move(version));
        return true;
      }));
  return parse_status;
}

absl::Status BankStore::CollectState(absl::string_view job, const v1::StoredBank& bank,
                                     uint64_t seq, BankIndex* index) {
  std::unordered_set<uint64_t> decided;
  return CollectStateInto(job, bank, seq, &decided, index);
}

absl::Status BankStore::CollectStateInto(absl::string_view job, const v1::StoredBank& bank,
                                         uint64_t seq, std::unordered_set<uint64_t>* decided,
                                         BankIndex* index) {
  const std::string prefix = internal::BankDataPrefix(job, bank.uid());
  MEMR1_RETURN_IF_ERROR(ForEachVersionAsOf(
      db_.get(), handles_->memories, prefix, seq,
      [&](uint64_t number, const std::string& bytes) -> absl::Status {
        if (!decided->insert(number).second) return absl::OkStatus();
        v1::MemoryVersion version;
        MEMR1_RETURN_IF_ERROR(ParseStored(bytes, &version, "memory version"));
        if (!version.deleted()) index->Put(number, std::move(*version.mutable_memory()));
        return absl::OkStatus();
      }));
  if (bank.parent_uid() == 0) return absl::OkStatus();
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank parent, LoadBankByUid(job, bank.parent_uid()));
  return CollectStateInto(job, parent, std::min(seq, bank.parent_seq()), decided, index);
}

absl::Status BankStore::CollectLog(absl::string_view job, const v1::StoredBank& bank,
                                   uint64_t seq,
                                   const std::function<absl::Status(v1::MemoryVersion)>& sink) {
  if (bank.parent_uid() != 0) {
    MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank parent, LoadBankByUid(job, bank.parent_uid()));
    MEMR1_RETURN_IF_ERROR(CollectLog(job, parent, std::min(seq, bank.parent_seq()), sink));
  }
  const std::string prefix = internal::BankDataPrefix(job, bank.uid());
  absl::Status status;
  MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
      db_.get(), handles_->oplog, prefix, [&](absl::string_view key, absl::string_view value) {
        if (internal::ReadBigEndian64(key.substr(prefix.size(), 8)) > seq) return false;
        v1::MemoryVersion entry;
        status = ParseStored(std::string(value), &entry, "op log");
        if (!status.ok()) return false;
        if (!entry.memory_id().empty()) {
          // The full version (with the memory's state) lives in the memories family.
          auto number = ParseMemoryId(entry.memory_id());
          if (!number.ok()) {
            status = absl::DataLossError("memstore: op log names a malformed memory id");
            return false;
          }
          std::string full;
          status = FromRocks(
              db_->Get(rocksdb::ReadOptions(), handles_->memories,
                       internal::VersionKey(job, bank.uid(), *number, entry.seq(),
                                            entry.op_index()),
                       &full),
              "read memory version");
          if (status.ok()) status = ParseStored(full, &entry, "memory version");
          if (!status.ok()) return false;
        }
        status = sink(std::move(entry));
        return status.ok();
      }));
  return status;
}

absl::StatusOr<uint64_t> BankStore::CountAt(absl::string_view job, const v1::StoredBank& bank,
                                            uint64_t seq) {
  if (seq == bank.seq()) return bank.memory_count();
  const std::string prefix = internal::CountPrefix(job, bank.uid());
  rocksdb::ReadOptions read;
  rocksdb::Slice lower(prefix);
  read.iterate_lower_bound = &lower;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, handles_->index));
  it->SeekForPrev(internal::CountKey(job, bank.uid(), seq));
  if (it->Valid() && it->key().starts_with(prefix)) {
    return internal::ReadBigEndian64(absl::string_view(it->value().data(), it->value().size()));
  }
  MEMR1_RETURN_IF_ERROR(FromRocks(it->status(), "read count"));
  if (bank.parent_uid() == 0) return uint64_t{0};
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank parent, LoadBankByUid(job, bank.parent_uid()));
  return CountAt(job, parent, std::min(seq, bank.parent_seq()));
}

absl::StatusOr<std::shared_ptr<const BankIndex>> BankStore::IndexAt(absl::string_view job,
                                                                    const v1::StoredBank& bank,
                                                                    uint64_t seq) {
  const bool latest = seq == bank.seq();
  const std::string key = CacheKey(job, bank.uid());
  if (latest) {
    if (std::shared_ptr<BankIndex> cached = CacheLookup(key, seq)) return cached;
  }
  std::shared_ptr<BankIndex> index;
  if (bank.parent_uid() != 0 && seq >= bank.parent_seq()) {
    MEMR1_ASSIGN_OR_RETURN(index, CloneParentIndex(job, bank, seq));
  }
  if (index == nullptr) {
    index = std::make_shared<BankIndex>();
    MEMR1_RETURN_IF_ERROR(CollectState(job, bank, seq, index.get()));
  }
  if (latest) CacheInsert(key, seq, index);
  return index;
}

absl::StatusOr<std::shared_ptr<BankIndex>> BankStore::CloneParentIndex(
    absl::string_view job, const v1::StoredBank& bank, uint64_t seq) {
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank parent, LoadBankByUid(job, bank.parent_uid()));
  if (parent.seq() != bank.parent_seq()) return nullptr;  // the parent moved on
  // The parent's cached index is changed in place by the parent's Apply, under the parent's
  // lock: read it only while holding that lock. Try-lock, never wait, so that lock order
  // cannot matter; the caller already holds it when both banks share a stripe.
  absl::Mutex& own_mu = BankMutex(job, bank.name());
  absl::Mutex& parent_mu = BankMutex(job, parent.name());
  const bool same_stripe = &own_mu == &parent_mu;
  if (!same_stripe && !parent_mu.ReaderTryLock()) return nullptr;
  std::shared_ptr<BankIndex> clone;
  if (std::shared_ptr<BankIndex> cached =
          CacheLookup(CacheKey(job, parent.uid()), parent.seq())) {
    clone = std::make_shared<BankIndex>(*cached);
  }
  if (!same_stripe) parent_mu.ReaderUnlock();
  if (clone == nullptr) return nullptr;
  // Overlay the fork's own versions (few: a fork is young).
  const std::string prefix = internal::BankDataPrefix(job, bank.uid());
  const absl::Status status = ForEachVersionAsOf(
      db_.get(), handles_->memories, prefix, seq,
      [&](uint64_t number, const std::string& bytes) -> absl::Status {
        v1::MemoryVersion version;
        MEMR1_RETURN_IF_ERROR(ParseStored(bytes, &version, "memory version"));
        if (version.deleted()) {
          clone->Remove(number);
        } else {
          clone->Put(number, std::move(*version.mutable_memory()));
        }
        return absl::OkStatus();
      });
  MEMR1_RETURN_IF_ERROR(status);
  return clone;
}

absl::StatusOr<v1::Memory> BankStore::Get(absl::string_view job, const v1::GetRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const uint64_t number, ParseMemoryId(request.memory_id()));
  absl::ReaderMutexLock lock(&BankMutex(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank bank, LoadBank(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const uint64_t seq, ResolveSeq(bank, request.as_of_seq()));
  MEMR1_ASSIGN_OR_RETURN(std::optional<v1::MemoryVersion> version,
                         LatestVersion(job, bank, number, seq));
  if (!version.has_value()) {
    return absl::NotFoundError(absl::StrCat("memory ", request.memory_id(), " not found in bank '",
                                            bank.name(), "' at seq ", seq));
  }
  if (version->deleted()) {
    return absl::NotFoundError(absl::StrCat("memory ", request.memory_id(), " of bank '",
                                            bank.name(), "' was deleted at seq ", version->seq()));
  }
  return std::move(*version->mutable_memory());
}

absl::StatusOr<v1::ListResponse> BankStore::List(absl::string_view job,
                                                 const v1::ListRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  if (request.page_size() < 0) return absl::InvalidArgumentError("list: page_size < 0");
  const int page_size = request.page_size() == 0 ? 1000 : std::min(request.page_size(), 1000);
  uint64_t after = 0;
  if (!request.page_token().empty() && !absl::SimpleAtoi(request.page_token(), &after)) {
    return absl::InvalidArgumentError(
        absl::StrCat("list: malformed page_token '", request.page_token().substr(0, 64), "'"));
  }
  absl::ReaderMutexLock lock(&BankMutex(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank bank, LoadBank(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const uint64_t seq, ResolveSeq(bank, request.as_of_seq()));
  MEMR1_ASSIGN_OR_RETURN(const std::shared_ptr<const BankIndex> index, IndexAt(job, bank, seq));
  v1::ListResponse response;
  response.set_seq(seq);
  uint64_t last = 0;
  bool more = false;
  index->ForEachAfter(after, [&](uint64_t number, const v1::Memory& memory) {
    if (response.memories_size() == page_size) {
      more = true;
      return false;
    }
    *response.add_memories() = memory;
    last = number;
    return true;
  });
  if (more) response.set_next_page_token(absl::StrCat(last));
  return response;
}

absl::StatusOr<v1::HistoryResponse> BankStore::History(absl::string_view job,
                                                       const v1::HistoryRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const uint64_t number, ParseMemoryId(request.memory_id()));
  absl::ReaderMutexLock lock(&BankMutex(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank bank, LoadBank(job, request.bank()));
  std::vector<v1::MemoryVersion> versions;
  MEMR1_RETURN_IF_ERROR(CollectVersions(job, bank, number, bank.seq(), &versions));
  if (versions.empty()) {
    return absl::NotFoundError(absl::StrCat("memory ", request.memory_id(),
                                            " never existed in bank '", bank.name(), "'"));
  }
  v1::HistoryResponse response;
  for (v1::MemoryVersion& version : versions) *response.add_versions() = std::move(version);
  return response;
}

absl::StatusOr<v1::SearchResponse> BankStore::Search(absl::string_view job,
                                                     const v1::SearchRequest& request) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(request.bank()));
  absl::ReaderMutexLock lock(&BankMutex(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank bank, LoadBank(job, request.bank()));
  MEMR1_ASSIGN_OR_RETURN(const uint64_t seq, ResolveSeq(bank, request.as_of_seq()));
  MEMR1_ASSIGN_OR_RETURN(const std::shared_ptr<const BankIndex> index, IndexAt(job, bank, seq));
  MEMR1_ASSIGN_OR_RETURN(v1::SearchResponse response,
                         index->Search(request, bank.embedding_dim()));
  response.set_seq(seq);
  return response;
}

absl::Status BankStore::CollectExport(absl::string_view job, const v1::StoredBank& bank,
                                      uint64_t seq, bool with_requests,
                                      std::vector<v1::ExportRecord>* records) {
  v1::ExportRecord header;
  v1::BankInfo* info = header.mutable_bank();
  *info = ToInfo(bank);
  info->set_seq(seq);
  MEMR1_ASSIGN_OR_RETURN(const uint64_t count, CountAt(job, bank, seq));
  info->set_memory_count(count);
  records->push_back(std::move(header));
  MEMR1_RETURN_IF_ERROR(CollectLog(job, bank, seq, [&](v1::MemoryVersion version) {
    v1::ExportRecord record;
    *record.mutable_version() = std::move(version);
    records->push_back(std::move(record));
    return absl::OkStatus();
  }));
  if (!with_requests) return absl::OkStatus();
  const std::string prefix = internal::BankDataPrefix(job, bank.uid());
  absl::Status status;
  MEMR1_RETURN_IF_ERROR(internal::ScanPrefix(
      db_.get(), handles_->requests, prefix, [&](absl::string_view key, absl::string_view value) {
        v1::ExportRecord record;
        v1::RequestRecord* request = record.mutable_request();
        request->set_request_id(std::string(key.substr(prefix.size())));
        status = ParseStored(std::string(value), request->mutable_response(), "request");
        records->push_back(std::move(record));
        return status.ok();
      }));
  return status;
}

absl::Status BankStore::Export(absl::string_view job, absl::string_view bank,
                               const std::function<absl::Status(v1::ExportRecord)>& sink) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(bank));
  std::vector<v1::ExportRecord> records;
  {
    // Collected under the lock, streamed without it: a slow reader never blocks writers.
    absl::ReaderMutexLock lock(&BankMutex(job, bank));
    MEMR1_ASSIGN_OR_RETURN(const v1::StoredBank stored, LoadBank(job, bank));
    MEMR1_RETURN_IF_ERROR(CollectExport(job, stored, stored.seq(), true, &records));
  }
  for (v1::ExportRecord& record : records) MEMR1_RETURN_IF_ERROR(sink(std::move(record)));
  return absl::OkStatus();
}

absl::StatusOr<v1::BankInfo> BankStore::Import(absl::string_view job, absl::string_view bank,
                                               const std::vector<v1::ExportRecord>& records) {
  MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  MEMR1_RETURN_IF_ERROR(ValidateBankName(bank));
  MEMR1_ASSIGN_OR_RETURN(const int64_t expires, ExpiryFor(std::nullopt, NowMicros()));
  absl::MutexLock lock(&catalog_mu_);
  return ImportLocked(job, bank, records, expires, "", 0);
}

absl::StatusOr<v1::BankInfo> BankStore::ImportLocked(absl::string_view job,
                                                     absl::string_view name,
                                                     const std::vector<v1::ExportRecord>& records,
                                                     int64_t expires_unix_micros,
                                                     absl::string_view parent_name,
                                                     uint64_t parent_seq) {
  if (LoadBank(job, name).ok()) {
    return absl::AlreadyExistsError(absl::StrCat("bank '", name, "' already exists"));
  }
  if (records.empty() || !records[0].has_bank()) {
    return absl::InvalidArgumentError("import: the first record must be the bank record");
  }
  const v1::BankInfo& header = records[0].bank();
  v1::StoredBank bank;
  bank.set_uid(next_uid_);
  bank.set_name(std::string(name));
  bank.set_created_unix_micros(NowMicros());
  bank.set_parent_name(std::string(parent_name));
  bank.set_parent_seq(parent_seq);
  bank.set_embedding_dim(header.embedding_dim());
  bank.set_expires_unix_micros(expires_unix_micros);
  uint64_t next_memory = 1;
  std::map<uint64_t, bool> live;  // memory number -> not deleted
  std::map<uint64_t, uint64_t> count_after;  // seq -> live count after it
  uint64_t count = 0;
  uint64_t last_seq = 0;
  int64_t last_op = -1;
  rocksdb::WriteBatch batch;
  for (size_t i = 1; i < records.size(); ++i) {
    const std::string where = absl::StrCat("import record ", i);
    const v1::ExportRecord& record = records[i];
    if (record.has_request()) {
      MEMR1_RETURN_IF_ERROR(ValidateRequestId(record.request().request_id()));
      if (record.request().request_id().empty()) {
        return absl::InvalidArgumentError(where + ": empty request_id");
      }
      batch.Put(handles_->requests,
                internal::RequestKey(job, bank.uid(), record.request().request_id()),
                record.request().response().SerializeAsString());
      continue;
    }
    if (!record.has_version()) {
      return absl::InvalidArgumentError(where + ": a second bank record or an empty record");
    }
    v1::MemoryVersion version = record.version();
    if (version.seq() == 0 || version.seq() < last_seq ||
        (version.seq() == last_seq && static_cast<int64_t>(version.op_index()) <= last_op)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": version (seq ", version.seq(), ", op ", version.op_index(),
                       ") is not after the previous one"));
    }
    last_seq = version.seq();
    last_op = version.op_index();
    uint64_t number = 0;
    if (!version.memory_id().empty()) {
      MEMR1_ASSIGN_OR_RETURN(number, ParseMemoryId(version.memory_id(), where + ": memory_id"));
    }
    const bool exists = number != 0 && live.count(number) > 0 && live[number];
    switch (version.event()) {
      case v1::ADD:
        if (number == 0 || live.count(number) > 0) {
          return absl::InvalidArgumentError(where + ": ADD of a missing or reused memory id");
        }
        live[number] = true;
        ++count;
        break;
      case v1::UPDATE:
      case v1::DELETE:
        if (!exists) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": ", v1::MemoryEvent_Name(version.event()), " of memory '",
                           version.memory_id(), "' that is not live"));
        }
        if (version.event() == v1::DELETE) {
          live[number] = false;
          --count;
        }
        break;
      case v1::NOOP:
        if (number != 0 && !exists) {
          return absl::InvalidArgumentError(where + ": NOOP of a memory that is not live");
        }
        break;
      default:
        return absl::InvalidArgumentError(where + ": unspecified event");
    }
    if (version.event() == v1::ADD || version.event() == v1::UPDATE) {
      if (!version.has_memory() || version.memory().id() != version.memory_id()) {
        return absl::InvalidArgumentError(where + ": version without the memory's state");
      }
      const uint32_t size = static_cast<uint32_t>(version.memory().embedding_size());
      if (size > 0) {
        if (bank.embedding_dim() == 0) bank.set_embedding_dim(size);
        if (size != bank.embedding_dim()) {
          return absl::InvalidArgumentError(absl::StrCat(where, ": embedding has dimension ",
                                                         size, "; the bank has ",
                                                         bank.embedding_dim()));
        }
      }
    }
    next_memory = std::max(next_memory, number + 1);
    count_after[version.seq()] = count;
    if (number != 0) {
      batch.Put(handles_->memories,
                internal::VersionKey(job, bank.uid(), number, version.seq(), version.op_index()),
                version.SerializeAsString());
    }
    version.clear_memory();
    batch.Put(handles_->oplog,
              internal::OpLogKey(job, bank.uid(), version.seq(), version.op_index()),
              version.SerializeAsString());
  }
  for (const auto& [seq, live_count] : count_after) {
    std::string value;
    internal::AppendBigEndian64(live_count, &value);
    batch.Put(handles_->index, internal::CountKey(job, bank.uid(), seq), value);
  }
  bank.set_seq(std::max(header.seq(), last_seq));
  bank.set_next_memory(next_memory);
  bank.set_memory_count(count);
  std::string uid_bytes;
  internal::AppendBigEndian64(bank.uid(), &uid_bytes);
  batch.Put(handles_->banks, internal::BankNameKey(job, name), uid_bytes);
  batch.Put(handles_->banks, internal::BankUidKey(job, bank.uid()), bank.SerializeAsString());
  std::string next_uid;
  internal::AppendBigEndian64(next_uid_ + 1, &next_uid);
  batch.Put(handles_->default_cf, "next_uid", next_uid);
  if (expires_unix_micros > 0) {
    batch.Put(handles_->index, internal::ExpiryKey(expires_unix_micros, job, name), uid_bytes);
  }
  MEMR1_RETURN_IF_ERROR(Commit(&batch));
  ++next_uid_;
  return ToInfo(bank);
}

}  // namespace memr1::memstore
