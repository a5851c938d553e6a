#pragma once

// MemstoreService: the gRPC face of a BankStore (the Memstore service of memstore.proto).
//
// Every call is authorized first: its x-memr1-job metadata must name a job this shard serves
// and carry that job's token (CheckJobToken), else UNAUTHENTICATED; a call routed over a shard
// list (x-memr1-shard-* metadata) must match the list the shard first served
// (FAILED_PRECONDITION otherwise, see BankStore::CheckShardIdentity). Then the call runs on the
// store with the job as tenant; absl errors map to gRPC codes one to one.
//
// Metrics: memr1_memstore_requests_total{method,code} and
// memr1_memstore_request_seconds{method} in MetricsRegistry::Default().
//
// Thread safety: thread safe (gRPC calls handlers concurrently); the store does the locking.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "memr1/v1/memstore.grpc.pb.h"
#include "memstore/bank_store.h"

namespace memr1::memstore {

class MemstoreService final : public v1::Memstore::Service {
 public:
  // `store` is not owned and must outlive the service. `job_tokens` maps each job (tenant)
  // this shard serves to its token (an empty token accepts any caller of that job).
  MemstoreService(BankStore* store, std::map<std::string, std::string> job_tokens);

  grpc::Status CreateBank(grpc::ServerContext* context, const v1::CreateBankRequest* request,
                          v1::CreateBankResponse* response) override;
  grpc::Status GetBank(grpc::ServerContext* context, const v1::GetBankRequest* request,
                       v1::GetBankResponse* response) override;
  grpc::Status ListBanks(grpc::ServerContext* context, const v1::ListBanksRequest* request,
                         v1::ListBanksResponse* response) override;
  grpc::Status Apply(grpc::ServerContext* context, const v1::ApplyRequest* request,
                     v1::ApplyResponse* response) override;
  grpc::Status Get(grpc::ServerContext* context, const v1::GetRequest* request,
                   v1::GetResponse* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListRequest* request,
                    v1::ListResponse* response) override;
  grpc::Status History(grpc::ServerContext* context, const v1::HistoryRequest* request,
                       v1::HistoryResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context, const v1::SearchRequest* request,
                      v1::SearchResponse* response) override;
  grpc::Status Fork(grpc::ServerContext* context, const v1::ForkRequest* request,
                    v1::ForkResponse* response) override;
  grpc::Status Drop(grpc::ServerContext* context, const v1::DropRequest* request,
                    v1::DropResponse* response) override;
  grpc::Status Export(grpc::ServerContext* context, const v1::ExportRequest* request,
                      grpc::ServerWriter<v1::ExportChunk>* writer) override;
  grpc::Status Import(grpc::ServerContext* context,
                      grpc::ServerReader<v1::ImportRequest>* reader,
                      v1::ImportResponse* response) override;

 private:
  // The job of the call, once token and shard list are checked.
  absl::StatusOr<std::string> Authorize(const grpc::ServerContext& context);

  BankStore* const store_;
  const std::map<std::string, std::string> job_tokens_;
};

}  // namespace memr1::memstore
