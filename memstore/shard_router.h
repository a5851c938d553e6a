#pragma once

// Routing banks to memstore shards.
//
// HashRing: consistent hashing of bank names onto a shard list. Each shard address is placed at
// kVirtualNodes points of a 64-bit ring (FNV-1a of "address#i", mixed); a bank goes to the
// first point at or after the hash of its *routing key*: the bank name up to its first '/'
// (the whole name when it has none). So "ep7" and its forks "ep7/g0".."ep7/g15" live on one
// shard and forking them is copy-on-write; adding a shard moves only about 1/N of the banks.
// The fingerprint names the list (FNV-1a of the addresses in order, hex); shards remember the
// fingerprint and index they were first used with (BankStore::CheckShardIdentity).
//
// ShardRouter: one MemstoreClient per shard, each sending its shard's identity on every call,
// and the bank-level operations routed by bank. A fork whose target routes to another shard
// than its source is done as Export from the source shard and Import into the target shard
// (a copy); the copy-on-write fork needs both on one shard.
//
// Thread safety: both classes are thread safe (immutable after construction).

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "memstore/client.h"

namespace memr1::memstore {

class HashRing {
 public:
  static constexpr int kVirtualNodes = 64;
  // `shards` must be non-empty and free of duplicates (InvalidArgument otherwise).
  static absl::StatusOr<HashRing> Create(std::vector<std::string> shards);

  // Index into shards() of the shard holding `bank`.
  int ShardFor(absl::string_view bank) const;
  const std::vector<std::string>& shards() const { return shards_; }
  const std::string& fingerprint() const { return fingerprint_; }

 private:
  HashRing() = default;
  std::vector<std::string> shards_;
  std::vector<std::pair<uint64_t, int>> ring_;  // sorted points
  std::string fingerprint_;
};

// The routing key of a bank name: up to the first '/'.
absl::string_view RoutingKey(absl::string_view bank);
// 64-bit FNV-1a followed by a splitmix64 finalizer: stable across processes and builds.
uint64_t StableHash(absl::string_view text);

class ShardRouter {
 public:
  // Channels to every shard in `shards` (no call is made yet).
  static absl::StatusOr<std::unique_ptr<ShardRouter>> Connect(std::vector<std::string> shards,
                                                              const ClientOptions& options);
  // As Connect, but the ring (routing and the shard-list fingerprint) is over `names`, one per
  // address, so a shard whose address changes between runs (a server on port 0 over the same
  // data directory) keeps its identity. InvalidArgument when the sizes differ.
  static absl::StatusOr<std::unique_ptr<ShardRouter>> ConnectNamed(
      const std::vector<std::string>& addresses, std::vector<std::string> names,
      const ClientOptions& options);

  const HashRing& ring() const { return ring_; }
  // The client of the shard holding `bank`.
  MemstoreClient& ForBank(absl::string_view bank) const;
  MemstoreClient& shard(int index) const { return *clients_[index]; }

  absl::StatusOr<v1::BankInfo> CreateBank(const v1::CreateBankRequest& request) const;
  absl::StatusOr<v1::ApplyResponse> Apply(v1::ApplyRequest request) const;
  absl::StatusOr<v1::SearchResponse> Search(const v1::SearchRequest& request) const;
  absl::StatusOr<v1::ListResponse> List(const v1::ListRequest& request) const;
  absl::StatusOr<v1::Memory> Get(const v1::GetRequest& request) const;
  // Copy-on-write when source and target share a shard, else export + import (at_seq must then
  // be 0: the copy is of the source's latest state).
  absl::StatusOr<v1::BankInfo> Fork(const v1::ForkRequest& request) const;
  absl::Status Drop(const std::string& bank) const;

 private:
  ShardRouter(HashRing ring, std::vector<std::unique_ptr<MemstoreClient>> clients)
      : ring_(std::move(ring)), clients_(std::move(clients)) {}

  HashRing ring_;
  std::vector<std::unique_ptr<MemstoreClient>> clients_;
};

}  // namespace memr1::memstore
