#include "coordinator/server.h"

#include "absl/strings/str_cat.h"

#include <chrono>
#include <filesystem>
#include <utility>

#include "absl/time/clock.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "coordinator/service.h"
#include "coordinator/state_store.h"

namespace memr1::coordinator {

std::string JobStateDir(const v1::JobConfig& config) {
  if (!config.coordinator().state_dir().empty()) return config.coordinator().state_dir();
  return (std::filesystem::path(config.output_dir()) / "coordinator").string();
}

absl::Status CheckNewJob(const v1::JobConfig& config, bool resume) {
  const std::filesystem::path state = JobStateDir(config);
  std::error_code ec;
  if (resume || !std::filesystem::exists(state, ec) || std::filesystem::is_empty(state, ec)) {
    return absl::OkStatus();
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "output_dir ", config.output_dir(), " already holds a job (coordinator state in ",
      state.string(), "): pass --resume to continue it, or choose another output_dir"));
}

absl::StatusOr<ServerOptions> ServerOptionsFromConfig(const v1::JobConfig& config) {
  ServerOptions options;
  MEMR1_ASSIGN_OR_RETURN(options.job, JobOptions::FromConfig(config));
  MEMR1_ASSIGN_OR_RETURN(options.episodes, EpisodeStream::FromConfig(config));
  options.state_dir = JobStateDir(config);
  options.listen = config.coordinator().listen();
  options.job_token = config.job_token();
  return options;
}

absl::StatusOr<std::unique_ptr<CoordinatorServer>> CoordinatorServer::Start(
    ServerOptions options) {
  if (options.tick_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("coordinator: tick interval must be positive");
  }
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<StateStore> store, StateStore::Open(options.state_dir));
  MEMR1_ASSIGN_OR_RETURN(std::unique_ptr<JobState> state,
                         JobState::Open(options.job, std::move(options.episodes),
                                        std::move(store), absl::Now()));
  std::unique_ptr<CoordinatorServer> server(new CoordinatorServer());
  server->service_ = std::make_unique<CoordinatorService>(std::move(state), options.job_token);
  GrpcServerOptions grpc_options;
  grpc_options.address = options.listen;
  grpc_options.services = {server->service_.get()};
  grpc_options.tls = options.tls;
  MEMR1_ASSIGN_OR_RETURN(server->grpc_, StartGrpcServer(grpc_options));
  server->address_ = server->grpc_.address;
  server->ticker_ = std::thread([raw = server.get(), interval = options.tick_interval]() {
    raw->TickLoop(interval);
  });
  return server;
}

CoordinatorServer::~CoordinatorServer() { Close(); }

void CoordinatorServer::TickLoop(absl::Duration interval) {
  while (!stop_.WaitForNotificationWithTimeout(interval)) service_->Tick();
}

v1::StatusResponse CoordinatorServer::Snapshot() { return service_->Tick(); }

void CoordinatorServer::Close() {
  {
    absl::MutexLock lock(&close_mu_);
    if (closed_) return;
    closed_ = true;
  }
  if (grpc_.server != nullptr) {
    grpc_.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (ticker_.joinable()) ticker_.join();
  service_.reset();
}

}  // namespace memr1::coordinator
