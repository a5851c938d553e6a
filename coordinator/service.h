#pragma once

// CoordinatorService: the gRPC face of a JobState (the Coordinator service of coordinator.proto).
//
// Every call checks the job token first (UNAUTHENTICATED otherwise), then runs on the JobState
// under one mutex with the wall clock; handlers never wait on anything but that mutex and the
// state's RocksDB write. absl errors map to gRPC codes one to one.
//
// Metrics (MetricsRegistry::Default()): memr1_coordinator_requests_total{method,code},
// memr1_coordinator_units_total{state=pending|leased|done|released} (gauges of the job's units),
// memr1_coordinator_late_completions_total, memr1_coordinator_phase (JobPhase number),
// memr1_coordinator_step, memr1_coordinator_policy_version.
//
// Thread safety: thread safe.

#include <functional>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "coordinator/job_state.h"
#include "memr1/v1/coordinator.grpc.pb.h"

namespace memr1::coordinator {

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // `state` is owned; `job_token` empty accepts every caller.
  CoordinatorService(std::unique_ptr<JobState> state, std::string job_token);

  grpc::Status Register(grpc::ServerContext* context, const v1::RegisterRequest* request,
                        v1::RegisterResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context, const v1::HeartbeatRequest* request,
                         v1::HeartbeatResponse* response) override;
  grpc::Status LeaseWork(grpc::ServerContext* context, const v1::LeaseWorkRequest* request,
                         v1::LeaseWorkResponse* response) override;
  grpc::Status CompleteWork(grpc::ServerContext* context, const v1::CompleteWorkRequest* request,
                            v1::CompleteWorkResponse* response) override;
  grpc::Status StepUnits(grpc::ServerContext* context, const v1::StepUnitsRequest* request,
                         v1::StepUnitsResponse* response) override;
  grpc::Status PublishVersion(grpc::ServerContext* context,
                              const v1::PublishVersionRequest* request,
                              v1::PublishVersionResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status Shutdown(grpc::ServerContext* context, const v1::ShutdownRequest* request,
                        v1::ShutdownResponse* response) override;
  grpc::Status RequestCheckpoint(grpc::ServerContext* context,
                                 const v1::RequestCheckpointRequest* request,
                                 v1::RequestCheckpointResponse* response) override;

  // Expires leases now (the server's ticker calls it) and returns the status snapshot.
  v1::StatusResponse Tick();

 private:
  // Runs `body` on the state under the lock, then updates the metrics and logs phase changes.
  grpc::Status Run(const char* method, grpc::ServerContext* context,
                   const std::function<absl::Status(JobState*, absl::Time)>& body);
  void UpdateMetrics() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string job_token_;
  absl::Mutex mu_;
  std::unique_ptr<JobState> state_ ABSL_GUARDED_BY(mu_);
  v1::JobPhase logged_phase_ ABSL_GUARDED_BY(mu_) = v1::JOB_PHASE_UNSPECIFIED;
  int64_t counted_late_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace memr1::coordinator
