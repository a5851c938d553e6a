#include "memstore/server.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "memstore/echo_service.h"
#include "memstore/names.h"
#include "memstore/service.h"

namespace memr1::memstore {

ServerOptions ServerOptionsFromConfig(const v1::JobConfig& config) {
  ServerOptions options;
  options.store = StoreOptions::FromConfig(config.memstore());
  options.tls = config.memstore().tls();
  options.expiry_interval = absl::Seconds(config.memstore().expiry_interval_seconds());
  options.job_tokens[config.name()] = config.job_token();
  return options;
}

absl::StatusOr<std::unique_ptr<MemstoreServer>> MemstoreServer::Start(ServerOptions options) {
  if (options.job_tokens.empty()) {
    return absl::InvalidArgumentError("memstore server: no job to serve");
  }
  for (const auto& [job, token] : options.job_tokens) {
    MEMR1_RETURN_IF_ERROR(ValidateJobName(job));
  }
  if (options.expiry_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("memstore server: expiry interval must be positive");
  }
  std::unique_ptr<MemstoreServer> server(new MemstoreServer());
  MEMR1_ASSIGN_OR_RETURN(server->store_, BankStore::Open(options.store));
  server->service_ = std::make_unique<MemstoreService>(server->store_.get(), options.job_tokens);
  // The Echo baseline checks the first job's token, as a memstore call would.
  server->echo_ = std::make_unique<EchoService>(options.job_tokens.begin()->second);
  GrpcServerOptions grpc_options;
  grpc_options.address = options.listen;
  grpc_options.services = {server->service_.get(), server->echo_.get()};
  grpc_options.tls = options.tls;
  MEMR1_ASSIGN_OR_RETURN(server->grpc_, StartGrpcServer(grpc_options));
  server->address_ = server->grpc_.address;
  server->expiry_thread_ =
      std::thread([raw = server.get(), interval = options.expiry_interval]() {
        raw->ExpiryLoop(interval);
      });
  return server;
}

MemstoreServer::~MemstoreServer() { Close(); }

void MemstoreServer::ExpiryLoop(absl::Duration interval) {
  while (!stop_.WaitForNotificationWithTimeout(interval)) {
    const absl::StatusOr<int> dropped = store_->ExpireBanks(absl::Now());
    if (!dropped.ok()) {
      MEMR1_LOG(WARNING) << "memstore: expiring banks failed: " << dropped.status();
    } else if (*dropped > 0) {
      MEMR1_LOG(INFO) << "memstore: dropped " << *dropped << " expired bank(s)";
    }
  }
}

void MemstoreServer::Wait() {
  if (grpc_.server != nullptr) grpc_.server->Wait();
}

void MemstoreServer::Close() {
  {
    absl::MutexLock lock(&close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  if (grpc_.server != nullptr) {
    grpc_.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (expiry_thread_.joinable()) expiry_thread_.join();
  store_.reset();
}

}  // namespace memr1::memstore
