#pragma once

// Private helpers shared by the .cc files of BankStore (not a public header).

#include <rocksdb/db.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "memstore/bank_store.h"
#include "memstore/names.h"

namespace memr1::memstore {

struct BankStore::Handles {
  rocksdb::ColumnFamilyHandle* default_cf = nullptr;
  rocksdb::ColumnFamilyHandle* memories = nullptr;
  rocksdb::ColumnFamilyHandle* oplog = nullptr;
  rocksdb::ColumnFamilyHandle* index = nullptr;
  rocksdb::ColumnFamilyHandle* banks = nullptr;
  rocksdb::ColumnFamilyHandle* requests = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> all;
};

namespace internal {

inline absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("rocksdb ", what, ": ", status.ToString()));
}

inline int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

template <typename Message>
absl::Status ParseStored(const std::string& bytes, Message* message, absl::string_view what) {
  if (!message->ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("memstore: corrupt ", what, " record"));
  }
  return absl::OkStatus();
}

// "k" <bank prefix><seq:8> -> live memory count after that seq (index column family).
std::string CountKey(absl::string_view job, uint64_t uid, uint64_t seq);
std::string CountPrefix(absl::string_view job, uint64_t uid);

// Calls fn(key, value) for every key starting with `prefix` in `cf`, in order, until fn
// returns false.
template <typename Fn>
absl::Status ScanPrefix(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                        absl::string_view prefix, Fn fn) {
  rocksdb::ReadOptions read;
  const std::string limit = PrefixSuccessor(prefix);
  rocksdb::Slice upper(limit);
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, cf));
  for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
    if (!fn(absl::string_view(it->key().data(), it->key().size()),
            absl::string_view(it->value().data(), it->value().size()))) {
      break;
    }
  }
  return FromRocks(it->status(), "scan");
}

}  // namespace internal
}  // namespace memr1::memstore
