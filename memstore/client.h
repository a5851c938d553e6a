#pragma once

// MemstoreClient: calls one memstore shard. It attaches the job, the job token and a deadline
// to every call, turns gRPC errors into absl::Status, and gives every Apply without a
// request_id a random one, so that a retried Apply (by gRPC's transparent retry of UNAVAILABLE
// or by the caller) is applied at most once.
//
// Thread safety: thread safe (gRPC stubs are).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "memr1/v1/config.pb.h"
#include "memr1/v1/memstore.grpc.pb.h"

namespace memr1::memstore {

struct ClientOptions {
  // The job (tenant) whose banks the client works on, and its token.
  std::string job = "memr1";
  std::string job_token;
  // Deadline of each unary call; Export/Import get 10x.
  absl::Duration timeout = absl::Seconds(10);
  ChannelOptions channel;

  // From a job config: name, job_token, memstore.rpc_timeout_ms and memstore.tls.
  static ClientOptions FromConfig(const v1::JobConfig& config);
};

class MemstoreClient {
 public:
  // A client of the shard at `address` (a channel is made; no call is made yet).
  static absl::StatusOr<std::unique_ptr<MemstoreClient>> Connect(const std::string& address,
                                                                 ClientOptions options);
  // Over a given stub (tests script failures through it). `routing`, when set, is sent with
  // every call so the shard can check the shard list (see memstore.proto).
  MemstoreClient(std::unique_ptr<v1::Memstore::StubInterface> stub, ClientOptions options,
                 std::optional<v1::ShardIdentity> routing = std::nullopt);

  absl::StatusOr<v1::BankInfo> CreateBank(const v1::CreateBankRequest& request);
  absl::StatusOr<v1::BankInfo> GetBank(const std::string& bank);
  absl::StatusOr<v1::ListBanksResponse> ListBanks(const v1::ListBanksRequest& request);
  // Fills request_id when empty (see the class comment).
  absl::StatusOr<v1::ApplyResponse> Apply(v1::ApplyRequest request);
  absl::StatusOr<v1::Memory> Get(const v1::GetRequest& request);
  absl::StatusOr<v1::ListResponse> List(const v1::ListRequest& request);
  absl::StatusOr<v1::HistoryResponse> History(const v1::HistoryRequest& request);
  absl::StatusOr<v1::SearchResponse> Search(const v1::SearchRequest& request);
  absl::StatusOr<v1::BankInfo> Fork(const v1::ForkRequest& request);
  absl::Status Drop(const std::string& bank);
  // All records of the bank, in export order.
  absl::StatusOr<std::vector<v1::ExportRecord>> Export(const std::string& bank);
  // Streams `records` to create `bank` (chunks of about 1 MiB).
  absl::StatusOr<v1::BankInfo> Import(const std::string& bank,
                                      const std::vector<v1::ExportRecord>& records);

 private:
  void Prepare(grpc::ClientContext* context, absl::Duration timeout) const;

  std::unique_ptr<v1::Memstore::StubInterface> stub_;
  const ClientOptions options_;
  const std::optional<v1::ShardIdentity> routing_;
};

// A random 128-bit request id in hex.
std::string NewRequestId();

}  // namespace memr1::memstore
