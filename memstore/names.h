#pragma once

// Names and ids of memstore: validation of job, bank, memory and request ids, and the RocksDB
// key layout built from them. Every key of a bank's data starts with its job, so a scan for one
// job can never reach another job's data.
//
// Thread safety: pure functions.

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace memr1::memstore {

inline constexpr size_t kMaxJobNameBytes = 128;
inline constexpr size_t kMaxBankNameBytes = 200;
inline constexpr size_t kMaxRequestIdBytes = 256;

// InvalidArgument naming `what` unless `name` is 1-128 characters of [A-Za-z0-9._-].
absl::Status ValidateJobName(absl::string_view name);
// InvalidArgument unless `name` is 1-200 characters of [A-Za-z0-9._:/-] starting with a letter
// or digit.
absl::Status ValidateBankName(absl::string_view name, absl::string_view what = "bank");
absl::Status ValidateRequestId(absl::string_view request_id);

// Memory ids are "m<N>", N >= 1 in decimal without leading zeros.
std::string MemoryIdFromNumber(uint64_t number);
// InvalidArgument (naming `what`) for anything that is not a memory id.
absl::StatusOr<uint64_t> ParseMemoryId(absl::string_view id, absl::string_view what = "memory id");

namespace internal {

// Fixed-width big-endian encoding, so that keys sort numerically.
void AppendBigEndian64(uint64_t value, std::string* out);
uint64_t ReadBigEndian64(absl::string_view bytes);

// "<job>\0<uid:8>": the prefix of every key of one bank's data.
std::string BankDataPrefix(absl::string_view job, uint64_t uid);
// "<job>\0": the prefix of every key of one job (bank name keys).
std::string JobPrefix(absl::string_view job);

// Memories: <bank prefix><memory:8><seq:8><op_index:4>.
std::string VersionKey(absl::string_view job, uint64_t uid, uint64_t memory, uint64_t seq,
                       uint32_t op_index);
std::string MemoryPrefix(absl::string_view job, uint64_t uid, uint64_t memory);
// Op log: <bank prefix><seq:8><op_index:4>.
std::string OpLogKey(absl::string_view job, uint64_t uid, uint64_t seq, uint32_t op_index);
// Requests: <bank prefix><request id>.
std::string RequestKey(absl::string_view job, uint64_t uid, absl::string_view request_id);
// Bank metadata: "n" <job>\0<name> -> uid; "u" <job>\0<uid:8> -> StoredBank.
std::string BankNameKey(absl::string_view job, absl::string_view name);
std::string BankUidKey(absl::string_view job, uint64_t uid);
// Index: "c" <job>\0<parent uid:8><child uid:8> (forks of a bank), and
// "x" <expires:8><job>\0<name> -> uid (expiry order).
std::string ChildKey(absl::string_view job, uint64_t parent, uint64_t child);
std::string ChildPrefix(absl::string_view job, uint64_t parent);
std::string ExpiryKey(int64_t expires_unix_micros, absl::string_view job, absl::string_view name);

// The smallest key greater than every key starting with `prefix`.
std::string PrefixSuccessor(absl::string_view prefix);

}  // namespace internal
}  // namespace memr1::memstore

namespace memr1::memstore {

// gRPC metadata of memstore calls (see memstore.proto): the job (tenant) of the call, and the
// shard list a routing client sends so a shard can refuse a different one.
inline constexpr char kJobMetadataKey[] = "x-memr1-job";
inline constexpr char kShardListMetadataKey[] = "x-memr1-shard-list";
inline constexpr char kShardIndexMetadataKey[] = "x-memr1-shard-index";
inline constexpr char kShardCountMetadataKey[] = "x-memr1-shard-count";

}  // namespace memr1::memstore
