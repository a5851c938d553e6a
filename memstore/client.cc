#include "memstore/client.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"
#include "memstore/names.h"

namespace memr1::memstore {
namespace {

constexpr size_t kImportChunkBytes = 1 << 20;

}  // namespace

std::string NewRequestId() {
  static absl::Mutex mu(absl::kConstInit);
  static std::mt19937_64* engine = nullptr;
  absl::MutexLock lock(&mu);
  if (engine == nullptr) {
    std::random_device device;
    engine = new std::mt19937_64((static_cast<uint64_t>(device()) << 32) ^ device());
  }
  const uint64_t high = (*engine)();
  const uint64_t low = (*engine)();
  return absl::StrFormat("%016x%016x", high, low);
}

ClientOptions ClientOptions::FromConfig(const v1::JobConfig& config) {
  ClientOptions options;
  options.job = config.name();
  options.job_token = config.job_token();
  options.timeout = absl::Milliseconds(config.memstore().rpc_timeout_ms());
  options.channel.tls = config.memstore().tls();
  return options;
}

absl::StatusOr<std::unique_ptr<MemstoreClient>> MemstoreClient::Connect(
    const std::string& address, ClientOptions options) {
  MEMR1_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                         MakeChannel(address, options.channel));
  return std::make_unique<MemstoreClient>(v1::Memstore::NewStub(channel), std::move(options));
}

MemstoreClient::MemstoreClient(std::unique_ptr<v1::Memstore::StubInterface> stub,
                               ClientOptions options, std::optional<v1::ShardIdentity> routing)
    : stub_(std::move(stub)), options_(std::move(options)), routing_(std::move(routing)) {}

void MemstoreClient::Prepare(grpc::ClientContext* context, absl::Duration timeout) const {
  SetDeadline(context, timeout);
  AttachJobToken(context, options_.job_token);
  context->AddMetadata(kJobMetadataKey, options_.job);
  if (routing_.has_value()) {
    context->AddMetadata(kShardListMetadataKey, routing_->fingerprint());
    context->AddMetadata(kShardIndexMetadataKey, absl::StrCat(routing_->index()));
    context->AddMetadata(kShardCountMetadataKey, absl::StrCat(routing_->count()));
  }
}

absl::StatusOr<v1::BankInfo> MemstoreClient::CreateBank(const v1::CreateBankRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::CreateBankResponse response;
  MEMR1_RETURN_IF_ERROR(FromGrpcStatus(stub_->CreateBank(&context, request, &response)));
  return response.bank();
}

absl::StatusOr<v1::BankInfo> MemstoreClient::GetBank(const std::string& bank) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::GetBankRequest request;
  request.set_bank(bank);
  v1::GetBankResponse response;
  MEMR1_RETURN_IF_ERROR(FromGrpcStatus(stub_->GetBank(&context, request, &response)));
  return response.bank();
}

absl::StatusOr<v1::ListBanksResponse> MemstoreClient::ListBanks(
    const v1::ListBanksRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::ListBanksResponse response;
  const grpc::Status status = stub_->ListBanks(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::ApplyResponse> MemstoreClient::Apply(v1::ApplyRequest request) {
  if (request.request_id().empty()) request.set_request_id(NewRequestId());
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::ApplyResponse response;
  const grpc::Status status = stub_->Apply(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::Memory> MemstoreClient::Get(const v1::GetRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::GetResponse response;
  MEMR1_RETURN_IF_ERROR(FromGrpcStatus(stub_->Get(&context, request, &response)));
  return std::move(*response.mutable_memory());
}

absl::StatusOr<v1::ListResponse> MemstoreClient::List(const v1::ListRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::ListResponse response;
  const grpc::Status status = stub_->List(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::HistoryResponse> MemstoreClient::History(const v1::HistoryRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::HistoryResponse response;
  const grpc::Status status = stub_->History(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::SearchResponse> MemstoreClient::Search(const v1::SearchRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::SearchResponse response;
  const grpc::Status status = stub_->Search(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::BankInfo> MemstoreClient::Fork(const v1::ForkRequest& request) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::ForkResponse response;
  MEMR1_RETURN_IF_ERROR(FromGrpcStatus(stub_->Fork(&context, request, &response)));
  return response.bank();
}

absl::Status MemstoreClient::Drop(const std::string& bank) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout);
  v1::DropRequest request;
  request.set_bank(bank);
  v1::DropResponse response;
  return FromGrpcStatus(stub_->Drop(&context, request, &response));
}

absl::StatusOr<std::vector<v1::ExportRecord>> MemstoreClient::Export(const std::string& bank) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout * 10);
  v1::ExportRequest request;
  request.set_bank(bank);
  std::unique_ptr<grpc::ClientReaderInterface<v1::ExportChunk>> reader =
      stub_->Export(&context, request);
  std::vector<v1::ExportRecord> records;
  v1::ExportChunk chunk;
  while (reader->Read(&chunk)) {
    for (v1::ExportRecord& record : *chunk.mutable_records()) records.push_back(std::move(record));
  }
  MEMR1_RETURN_IF_ERROR(FromGrpcStatus(reader->Finish()));
  return records;
}

absl::StatusOr<v1::BankInfo> MemstoreClient::Import(const std::string& bank,
                                                    const std::vector<v1::ExportRecord>& records) {
  grpc::ClientContext context;
  Prepare(&context, options_.timeout * 10);
  v1::ImportResponse response;
  std::unique_ptr<grpc::ClientWriterInterface<v1::ImportRequest>> writer =
      stub_->Import(&context, &response);
  v1::ImportRequest message;
  message.set_bank(bank);
  size_t bytes = 0;
  bool open = true;
  for (const v1::ExportRecord& record : records) {
    bytes += record.ByteSizeLong();
    *message.add_records() = record;
    if (bytes >= kImportChunkBytes) {
      open = writer->Write(message);
      if (!open) break;
      message.Clear();
      bytes = 0;
    }
  }
  if (open && (message.records_size() > 0 || !message.bank().empty())) writer->Write(message);
  writer->WritesDone();
  MEMR1_RETURN_IF_ERROR(FromGrpcStatus(writer->Finish()));
  return response.bank();
}

}  // namespace memr1::memstore
