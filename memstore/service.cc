#include "memstore/service.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/metrics.h"
#include "common/status_macros.h"
#include "memstore/names.h"

namespace memr1::memstore {
namespace {

// Chunks of an export stay below this many bytes (plus one record).
constexpr size_t kExportChunkBytes = 1 << 20;

std::string MetadataValue(const grpc::ServerContext& context, const char* key) {
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find(key);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// Runs `body` (returning absl::Status) for `method`, recording metrics; returns gRPC status.
template <typename Body>
grpc::Status Serve(const char* method, Body body) {
  const absl::Time start = absl::Now();
  const absl::Status status = body();
  MetricsRegistry& registry = MetricsRegistry::Default();
  registry
      .GetCounter("memr1_memstore_requests_total", "memstore calls by method and status code",
                  {{"method", method}, {"code", absl::StatusCodeToString(status.code())}})
      ->Increment();
  registry
      .GetHistogram("memr1_memstore_request_seconds", "memstore call latency by method",
                    Histogram::ExponentialBounds(1e-5, 2, 22), {{"method", method}})
      ->Observe(absl::ToDoubleSeconds(absl::Now() - start));
  return ToGrpcStatus(status);
}

}  // namespace

MemstoreService::MemstoreService(BankStore* store, std::map<std::string, std::string> job_tokens)
    : store_(store), job_tokens_(std::move(job_tokens)) {}

absl::StatusOr<std::string> MemstoreService::Authorize(const grpc::ServerContext& context) {
  const std::string job = MetadataValue(context, kJobMetadataKey);
  if (job.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("missing job name (metadata ", kJobMetadataKey, ")"));
  }
  const auto it = job_tokens_.find(job);
  if (it == job_tokens_.end()) {
    return absl::UnauthenticatedError(
        absl::StrCat("job '", job.substr(0, 128), "' is not served by this memstore shard"));
  }
  MEMR1_RETURN_IF_ERROR(CheckJobToken(context, it->second));
  const std::string fingerprint = MetadataValue(context, kShardListMetadataKey);
  if (!fingerprint.empty()) {
    v1::ShardIdentity claimed;
    claimed.set_fingerprint(fingerprint);
    int index = -1;
    int count = 0;
    if (!absl::SimpleAtoi(MetadataValue(context, kShardIndexMetadataKey), &index) ||
        !absl::SimpleAtoi(MetadataValue(context, kShardCountMetadataKey), &count) || index < 0 ||
        count <= index) {
      return absl::InvalidArgumentError("malformed shard routing metadata");
    }
    claimed.set_index(index);
    claimed.set_count(count);
    MEMR1_RETURN_IF_ERROR(store_->CheckShardIdentity(claimed));
  }
  return job;
}

grpc::Status MemstoreService::CreateBank(grpc::ServerContext* context,
                                         const v1::CreateBankRequest* request,
                                         v1::CreateBankResponse* response) {
  return Serve("CreateBank", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response->mutable_bank(), store_->CreateBank(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::GetBank(grpc::ServerContext* context,
                                      const v1::GetBankRequest* request,
                                      v1::GetBankResponse* response) {
  return Serve("GetBank", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response->mutable_bank(), store_->GetBank(job, request->bank()));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::ListBanks(grpc::ServerContext* context,
                                        const v1::ListBanksRequest* request,
                                        v1::ListBanksResponse* response) {
  return Serve("ListBanks", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response, store_->ListBanks(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::Apply(grpc::ServerContext* context,
                                    const v1::ApplyRequest* request,
                                    v1::ApplyResponse* response) {
  return Serve("Apply", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response, store_->Apply(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::Get(grpc::ServerContext* context, const v1::GetRequest* request,
                                  v1::GetResponse* response) {
  return Serve("Get", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response->mutable_memory(), store_->Get(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::List(grpc::ServerContext* context, const v1::ListRequest* request,
                                   v1::ListResponse* response) {
  return Serve("List", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response, store_->List(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::History(grpc::ServerContext* context,
                                      const v1::HistoryRequest* request,
                                      v1::HistoryResponse* response) {
  return Serve("History", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response, store_->History(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::Search(grpc::ServerContext* context,
                                     const v1::SearchRequest* request,
                                     v1::SearchResponse* response) {
  return Serve("Search", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response, store_->Search(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::Fork(grpc::ServerContext* context, const v1::ForkRequest* request,
                                   v1::ForkResponse* response) {
  return Serve("Fork", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    MEMR1_ASSIGN_OR_RETURN(*response->mutable_bank(), store_->Fork(job, *request));
    return absl::OkStatus();
  });
}

grpc::Status MemstoreService::Drop(grpc::ServerContext* context, const v1::DropRequest* request,
                                   v1::DropResponse*) {
  return Serve("Drop", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    return store_->Drop(job, request->bank());
  });
}

grpc::Status MemstoreService::Export(grpc::ServerContext* context,
                                     const v1::ExportRequest* request,
                                     grpc::ServerWriter<v1::ExportChunk>* writer) {
  return Serve("Export", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    v1::ExportChunk chunk;
    size_t bytes = 0;
    auto flush = [&]() -> absl::Status {
      if (chunk.records_size() == 0) return absl::OkStatus();
      if (!writer->Write(chunk)) return absl::CancelledError("export: the client went away");
      chunk.Clear();
      bytes = 0;
      return absl::OkStatus();
    };
    MEMR1_RETURN_IF_ERROR(
        store_->Export(job, request->bank(), [&](v1::ExportRecord record) -> absl::Status {
          bytes += record.ByteSizeLong();
          *chunk.add_records() = std::move(record);
          if (bytes >= kExportChunkBytes) return flush();
          return absl::OkStatus();
        }));
    return flush();
  });
}

grpc::Status MemstoreService::Import(grpc::ServerContext* context,
                                     grpc::ServerReader<v1::ImportRequest>* reader,
                                     v1::ImportResponse* response) {
  return Serve("Import", [&]() -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const std::string job, Authorize(*context));
    v1::ImportRequest message;
    std::string bank;
    std::vector<v1::ExportRecord> records;
    while (reader->Read(&message)) {
      if (bank.empty()) bank = message.bank();
      for (v1::ExportRecord& record : *message.mutable_records()) {
        records.push_back(std::move(record));
      }
    }
    if (bank.empty()) {
      return absl::InvalidArgumentError("import: the first message must name the bank");
    }
    MEMR1_ASSIGN_OR_RETURN(*response->mutable_bank(), store_->Import(job, bank, records));
    return absl::OkStatus();
  });
}

}  // namespace memr1::memstore
