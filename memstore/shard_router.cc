#include "memstore/shard_router.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace memr1::memstore {

uint64_t StableHash(absl::string_view text) {
  uint64_t hash = 14695981039346656037ull;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ull;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebull;
  hash ^= hash >> 31;
  return hash;
}

absl::string_view RoutingKey(absl::string_view bank) {
  const size_t slash = bank.find('/');
  return slash == absl::string_view::npos ? bank : bank.substr(0, slash);
}

absl::StatusOr<HashRing> HashRing::Create(std::vector<std::string> shards) {
  if (shards.empty()) return absl::InvalidArgumentError("memstore: the shard list is empty");
  std::set<std::string> seen;
  for (const std::string& shard : shards) {
    if (!seen.insert(shard).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("memstore: shard '", shard, "' appears twice in the shard list"));
    }
  }
  HashRing ring;
  std::string joined;
  for (size_t i = 0; i < shards.size(); ++i) {
    absl::StrAppend(&joined, shards[i], "\n");
    for (int v = 0; v < kVirtualNodes; ++v) {
      ring.ring_.emplace_back(StableHash(absl::StrCat(shards[i], "#", v)), static_cast<int>(i));
    }
  }
  std::sort(ring.ring_.begin(), ring.ring_.end());
  ring.fingerprint_ = absl::StrFormat("%016x", StableHash(joined));
  ring.shards_ = std::move(shards);
  return ring;
}

int HashRing::ShardFor(absl::string_view bank) const {
  const uint64_t hash = StableHash(RoutingKey(bank));
  auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(hash, 0));
  if (it == ring_.end()) it = ring_.begin();
  return it->second;
}

absl::StatusOr<std::unique_ptr<ShardRouter>> ShardRouter::Connect(
    std::vector<std::string> shards, const ClientOptions& options) {
  const std::vector<std::string> addresses = shards;
  return ConnectNamed(addresses, std::move(shards), options);
}

absl::StatusOr<std::unique_ptr<ShardRouter>> ShardRouter::ConnectNamed(
    const std::vector<std::string>& addresses, std::vector<std::string> names,
    const ClientOptions& options) {
  if (addresses.size() != names.size()) {
    return absl::InvalidArgumentError(absl::StrCat("memstore: ", addresses.size(),
                                                   " shard addresses but ", names.size(),
                                                   " shard names"));
  }
  MEMR1_ASSIGN_OR_RETURN(HashRing ring, HashRing::Create(std::move(names)));
  std::vector<std::unique_ptr<MemstoreClient>> clients;
  for (size_t i = 0; i < addresses.size(); ++i) {
    MEMR1_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                           MakeChannel(addresses[i], options.channel));
    v1::ShardIdentity identity;
    identity.set_fingerprint(ring.fingerprint());
    identity.set_index(static_cast<int>(i));
    identity.set_count(static_cast<int>(addresses.size()));
    clients.push_back(
        std::make_unique<MemstoreClient>(v1::Memstore::NewStub(channel), options, identity));
  }
  return std::unique_ptr<ShardRouter>(new ShardRouter(std::move(ring), std::move(clients)));
}

MemstoreClient& ShardRouter::ForBank(absl::string_view bank) const {
  return *clients_[ring_.ShardFor(bank)];
}

absl::StatusOr<v1::BankInfo> ShardRouter::CreateBank(const v1::CreateBankRequest& request) const {
  return ForBank(request.bank()).CreateBank(request);
}

absl::StatusOr<v1::ApplyResponse> ShardRouter::Apply(v1::ApplyRequest request) const {
  MemstoreClient& client = ForBank(request.bank());
  return client.Apply(std::move(request));
}

absl::StatusOr<v1::SearchResponse> ShardRouter::Search(const v1::SearchRequest& request) const {
  return ForBank(request.bank()).Search(request);
}

absl::StatusOr<v1::ListResponse> ShardRouter::List(const v1::ListRequest& request) const {
  return ForBank(request.bank()).List(request);
}

absl::StatusOr<v1::Memory> ShardRouter::Get(const v1::GetRequest& request) const {
  return ForBank(request.bank()).Get(request);
}

absl::StatusOr<v1::BankInfo> ShardRouter::Fork(const v1::ForkRequest& request) const {
  const int source = ring_.ShardFor(request.source_bank());
  const int target = ring_.ShardFor(request.bank());
  if (source == target) return clients_[source]->Fork(request);
  if (request.at_seq() != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fork of '", request.source_bank(), "' into '", request.bank(),
        "' crosses shards, which copies the latest state only; name the fork '",
        RoutingKey(request.source_bank()), "/...' to fork at a seq"));
  }
  MEMR1_ASSIGN_OR_RETURN(std::vector<v1::ExportRecord> records,
                         clients_[source]->Export(request.source_bank()));
  // The target's request ids are its own: keep the source's out of the copy.
  records.erase(std::remove_if(records.begin(), records.end(),
                               [](const v1::ExportRecord& r) { return r.has_request(); }),
                records.end());
  return clients_[target]->Import(request.bank(), records);
}

absl::Status ShardRouter::Drop(const std::string& bank) const { return ForBank(bank).Drop(bank); }

}  // namespace memr1::memstore
