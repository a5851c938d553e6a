#include "coordinator/client.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status_macros.h"

namespace memr1::coordinator {

const char* JobPhaseName(v1::JobPhase phase) {
  switch (phase) {
    case v1::JOB_PHASE_STARTING:
      return "starting";
    case v1::JOB_PHASE_RUNNING:
      return "running";
    case v1::JOB_PHASE_CHECKPOINTING:
      return "checkpointing";
    case v1::JOB_PHASE_DONE:
      return "done";
    case v1::JOB_PHASE_FAILED:
      return "failed";
    default:
      return "unknown";
  }
}

absl::StatusOr<std::unique_ptr<CoordinatorClient>> CoordinatorClient::Connect(
    ClientOptions options) {
  if (options.address.empty()) {
    return absl::InvalidArgumentError("coordinator address is empty");
  }
  MEMR1_ASSIGN_OR_RETURN(std::shared_ptr<grpc::Channel> channel,
                         MakeChannel(options.address, options.channel));
  return std::make_unique<CoordinatorClient>(v1::Coordinator::NewStub(channel), std::move(options));
}

CoordinatorClient::CoordinatorClient(std::unique_ptr<v1::Coordinator::StubInterface> stub,
                                     ClientOptions options)
    : stub_(std::move(stub)), options_(std::move(options)) {}

template <typename Request, typename Response, typename Method>
absl::StatusOr<Response> CoordinatorClient::Call(const char* name, Method method,
                                                 const Request& request) {
  grpc::ClientContext context;
  SetDeadline(&context, options_.timeout);
  context.set_wait_for_ready(options_.wait_for_ready);
  AttachJobToken(&context, options_.job_token);
  Response response;
  const grpc::Status status = ((*stub_).*method)(&context, request, &response);
  if (!status.ok()) {
    return Annotate(FromGrpcStatus(status),
                    absl::StrCat("coordinator ", options_.address, ": ", name));
  }
  return response;
}

absl::StatusOr<v1::RegisterResponse> CoordinatorClient::Register(
    const v1::RegisterRequest& request) {
  return Call<v1::RegisterRequest, v1::RegisterResponse>(
      "Register", &v1::Coordinator::StubInterface::Register, request);
}

absl::StatusOr<v1::HeartbeatResponse> CoordinatorClient::Heartbeat(
    const v1::HeartbeatRequest& request) {
  return Call<v1::HeartbeatRequest, v1::HeartbeatResponse>(
      "Heartbeat", &v1::Coordinator::StubInterface::Heartbeat, request);
}

absl::StatusOr<v1::LeaseWorkResponse> CoordinatorClient::LeaseWork(
    const v1::LeaseWorkRequest& request) {
  return Call<v1::LeaseWorkRequest, v1::LeaseWorkResponse>(
      "LeaseWork", &v1::Coordinator::StubInterface::LeaseWork, request);
}

absl::StatusOr<v1::CompleteWorkResponse> CoordinatorClient::CompleteWork(
    const v1::CompleteWorkRequest& request) {
  return Call<v1::CompleteWorkRequest, v1::CompleteWorkResponse>(
      "CompleteWork", &v1::Coordinator::StubInterface::CompleteWork, request);
}

absl::StatusOr<v1::StepUnitsResponse> CoordinatorClient::StepUnits(
    const v1::StepUnitsRequest& request) {
  return Call<v1::StepUnitsRequest, v1::StepUnitsResponse>(
      "StepUnits", &v1::Coordinator::StubInterface::StepUnits, request);
}

absl::Status CoordinatorClient::PublishVersion(const v1::PublishVersionRequest& request) {
  return Call<v1::PublishVersionRequest, v1::PublishVersionResponse>(
             "PublishVersion", &v1::Coordinator::StubInterface::PublishVersion, request)
      .status();
}

absl::StatusOr<v1::StatusResponse> CoordinatorClient::Status() {
  return Call<v1::StatusRequest, v1::StatusResponse>(
      "Status", &v1::Coordinator::StubInterface::Status, v1::StatusRequest());
}

absl::StatusOr<int64_t> CoordinatorClient::RequestCheckpoint(const std::string& reason) {
  v1::RequestCheckpointRequest request;
  request.set_reason(reason);
  MEMR1_ASSIGN_OR_RETURN(
      const v1::RequestCheckpointResponse response,
      (Call<v1::RequestCheckpointRequest, v1::RequestCheckpointResponse>(
          "RequestCheckpoint", &v1::Coordinator::StubInterface::RequestCheckpoint, request)));
  return response.step();
}

absl::Status CoordinatorClient::Shutdown(const std::string& reason) {
  v1::ShutdownRequest request;
  request.set_reason(reason);
  return Call<v1::ShutdownRequest, v1::ShutdownResponse>(
             "Shutdown", &v1::Coordinator::StubInterface::Shutdown, request)
      .status();
}

Heartbeater::Heartbeater(CoordinatorClient* client, std::string lease_id, absl::Duration interval)
    : client_(client), lease_id_(std::move(lease_id)), interval_(interval) {
  report_.set_lease_id(lease_id_);
  report_.set_policy_version(-1);
  thread_ = std::thread([this]() { Loop(); });
}

Heartbeater::~Heartbeater() { Close(); }

void Heartbeater::Report(int64_t policy_version, const std::string& policy_hash,
                         const std::map<std::string, double>& gauges) {
  absl::MutexLock lock(&mu_);
  report_.set_policy_version(policy_version);
  report_.set_policy_hash(policy_hash);
  report_.clear_gauges();
  for (const auto& [name, value] : gauges) (*report_.mutable_gauges())[name] = value;
}

std::optional<v1::HeartbeatResponse> Heartbeater::latest() const {
  absl::MutexLock lock(&mu_);
  return latest_;
}

void Heartbeater::SendNow() {
  absl::MutexLock lock(&mu_);
  send_now_ = true;
}

absl::Status Heartbeater::last_error() const {
  absl::MutexLock lock(&mu_);
  return last_error_;
}

void Heartbeater::Loop() {
  while (true) {
    v1::HeartbeatRequest request;
    {
      absl::MutexLock lock(&mu_);
      if (closing_) return;
      request = report_;
      send_now_ = false;
    }
    absl::StatusOr<v1::HeartbeatResponse> response = client_->Heartbeat(request);
    {
      absl::MutexLock lock(&mu_);
      if (response.ok()) {
        latest_ = *response;
        last_error_ = absl::OkStatus();
        if (response->stop()) stop_.store(true);
        answered_.fetch_add(1);
      } else {
        last_error_ = response.status();
        if (response.status().code() == absl::StatusCode::kNotFound) {
          lease_lost_.store(true);
        }
      }
      // Wait out the interval, waking early for Close() and SendNow().
      const auto wake = [this]() { return closing_ || send_now_; };
      mu_.AwaitWithTimeout(absl::Condition(&wake), interval_);
      if (closing_) return;
    }
  }
}

void Heartbeater::Close() {
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

}  // namespace memr1::coordinator
