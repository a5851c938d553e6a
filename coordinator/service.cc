#include "coordinator/service.h"

#include <utility>

#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/grpc_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/status_macros.h"

namespace memr1::coordinator {

CoordinatorService::CoordinatorService(std::unique_ptr<JobState> state, std::string job_token)
    : job_token_(std::move(job_token)), state_(std::move(state)) {
  absl::MutexLock lock(&mu_);
  UpdateMetrics();
}

grpc::Status CoordinatorService::Run(
    const char* method, grpc::ServerContext* context,
    const std::function<absl::Status(JobState*, absl::Time)>& body) {
  absl::Status status = CheckJobToken(*context, job_token_);
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    status = body(state_.get(), absl::Now());
    UpdateMetrics();
  } else {
    MEMR1_LOG(WARNING) << "coordinator: " << method << " refused: " << status.message();
  }
  MetricsRegistry::Default()
      .GetCounter("memr1_coordinator_requests_total", "coordinator calls by method and code",
                  {{"method", method}, {"code", absl::StatusCodeToString(status.code())}})
      ->Increment();
  return ToGrpcStatus(status);
}

void CoordinatorService::UpdateMetrics() {
  MetricsRegistry& registry = MetricsRegistry::Default();
  const char* help = "work units of the job by state (released: leases that ended unfinished)";
  registry.GetGauge("memr1_coordinator_units_total", help, {{"state", "pending"}})
      ->Set(static_cast<double>(state_->CountUnits(UnitState::kPending)));
  registry.GetGauge("memr1_coordinator_units_total", help, {{"state", "leased"}})
      ->Set(static_cast<double>(state_->CountUnits(UnitState::kLeased)));
  registry.GetGauge("memr1_coordinator_units_total", help, {{"state", "done"}})
      ->Set(static_cast<double>(state_->CountUnits(UnitState::kDone)));
  registry.GetGauge("memr1_coordinator_units_total", help, {{"state", "released"}})
      ->Set(static_cast<double>(state_->units_released()));
  const int64_t late = state_->late_completions_refused();
  registry
      .GetCounter("memr1_coordinator_late_completions_total",
                  "CompleteWork calls refused (superseded or expired attempts, wrong version)")
      ->Increment(static_cast<double>(std::max<int64_t>(0, late - counted_late_)));
  counted_late_ = std::max(counted_late_, late);
  registry.GetGauge("memr1_coordinator_phase", "job phase (memr1.v1.JobPhase number)")
      ->Set(state_->phase());
  registry.GetGauge("memr1_coordinator_policy_version", "newest published policy version")
      ->Set(static_cast<double>(state_->newest_version()));
  registry.GetGauge("memr1_coordinator_step", "RL steps closed")
      ->Set(static_cast<double>(std::max<int64_t>(0, state_->newest_version())));
  if (state_->phase() != logged_phase_) {
    MEMR1_LOG(INFO) << "coordinator: phase " << v1::JobPhase_Name(state_->phase())
                    << (state_->error().empty() ? "" : ": ") << state_->error();
    logged_phase_ = state_->phase();
  }
}

grpc::Status CoordinatorService::Register(grpc::ServerContext* context,
                                          const v1::RegisterRequest* request,
                                          v1::RegisterResponse* response) {
  return Run("Register", context, [&](JobState* state, absl::Time now) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(*response, state->Register(*request, now));
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext* context,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse* response) {
  return Run("Heartbeat", context, [&](JobState* state, absl::Time now) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(*response, state->Heartbeat(*request, now));
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::LeaseWork(grpc::ServerContext* context,
                                           const v1::LeaseWorkRequest* request,
                                           v1::LeaseWorkResponse* response) {
  return Run("LeaseWork", context, [&](JobState* state, absl::Time now) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(*response, state->LeaseWork(*request, now));
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::CompleteWork(grpc::ServerContext* context,
                                              const v1::CompleteWorkRequest* request,
                                              v1::CompleteWorkResponse* response) {
  return Run("CompleteWork", context, [&](JobState* state, absl::Time now) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(*response, state->CompleteWork(*request, now));
    if (!response->accepted()) {
      MEMR1_LOG(INFO) << "coordinator: completion refused: " << response->reason();
    }
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::StepUnits(grpc::ServerContext* context,
                                           const v1::StepUnitsRequest* request,
                                           v1::StepUnitsResponse* response) {
  return Run("StepUnits", context, [&](JobState* state, absl::Time now) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(*response, state->StepUnits(*request, now));
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::PublishVersion(grpc::ServerContext* context,
                                                const v1::PublishVersionRequest* request,
                                                v1::PublishVersionResponse*) {
  return Run("PublishVersion", context, [&](JobState* state, absl::Time now) {
    return state->PublishVersion(*request, now);
  });
}

grpc::Status CoordinatorService::Status(grpc::ServerContext* context, const v1::StatusRequest*,
                                        v1::StatusResponse* response) {
  return Run("Status", context, [&](JobState* state, absl::Time now) {
    *response = state->Status(now);
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::RequestCheckpoint(grpc::ServerContext* context,
                                                   const v1::RequestCheckpointRequest* request,
                                                   v1::RequestCheckpointResponse* response) {
  return Run("RequestCheckpoint", context, [&](JobState* state, absl::Time now) -> absl::Status {
    MEMR1_ASSIGN_OR_RETURN(const int64_t step, state->RequestCheckpoint(request->reason(), now));
    response->set_step(step);
    return absl::OkStatus();
  });
}

grpc::Status CoordinatorService::Shutdown(grpc::ServerContext* context,
                                          const v1::ShutdownRequest* request,
                                          v1::ShutdownResponse*) {
  return Run("Shutdown", context, [&](JobState* state, absl::Time now) {
    return state->Shutdown(request->reason(), now);
  });
}

v1::StatusResponse CoordinatorService::Tick() {
  absl::MutexLock lock(&mu_);
  v1::StatusResponse status = state_->Status(absl::Now());
  UpdateMetrics();
  return status;
}

}  // namespace memr1::coordinator
