#include "job/learner_role.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/config.h"
#include "common/grpc_util.h"
#include "common/logging.h"
#include "common/metrics.h"
#include "common/metrics_server.h"
#include "common/shutdown.h"
#include "common/status_macros.h"
#include "coordinator/client.h"
#include "learner/checkpoint.h"
#include "learner/communicator.h"
#include "learner/ingest_service.h"
#include "learner/trainer.h"
#include "learner/weight_broadcast.h"
#include "learner/weight_publisher.h"
#include "llm/safetensors_buffer.h"

namespace memr1::job {
namespace {

namespace fs = std::filesystem;

// The number of processes mpirun/srun started (1 when run directly); read from the variables
// those launchers define.
int LaunchedProcesses() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"}) {
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  }
  return 1;
}

// "<step>-<index>" of a work unit id.
bool ParseUnitId(const std::string& id, int64_t* step, int64_t* index) {
  const std::vector<std::string> parts = absl::StrSplit(id, '-');
  return parts.size() == 2 && absl::SimpleAtoi(parts[0], step) &&
         absl::SimpleAtoi(parts[1], index) && *step >= 0 && *index >= 0;
}

// Appends length-prefixed serialized messages.
void AppendFramed(const google::protobuf::Message& message, std::string* out) {
  const std::string bytes = message.SerializeAsString();
  const uint64_t n = bytes.size();
  out->append(reinterpret_cast<const char*>(&n), sizeof(n));
  out->append(bytes);
}

absl::Status ParseFramed(const std::string& data, std::vector<v1::TrajectoryBatch>* out) {
  size_t at = 0;
  while (at < data.size()) {
    uint64_t n = 0;
    if (data.size() - at < sizeof(n)) return absl::DataLossError("truncated unit frame");
    std::memcpy(&n, data.data() + at, sizeof(n));
    at += sizeof(n);
    if (data.size() - at < n) return absl::DataLossError("truncated unit payload");
    v1::TrajectoryBatch batch;
    if (!batch.ParseFromArray(data.data() + at, static_cast<int>(n))) {
      return absl::DataLossError("unparsable unit payload");
    }
    at += n;
    out->push_back(std::move(batch));
  }
  return absl::OkStatus();
}

// Every rank's `local` bytes, in rank order (two all-gathers: sizes, then padded payloads).
absl::StatusOr<std::vector<std::string>> AllGatherBytes(learner::Communicator& comm,
                                                        const std::string& local) {
  const int world = comm.world_size();
  at::Tensor size = at::full({1}, static_cast<int64_t>(local.size()), at::kLong);
  at::Tensor sizes = at::zeros({world}, at::kLong);
  MEMR1_RETURN_IF_ERROR(comm.AllGather(size, sizes));
  int64_t max_size = 0;
  for (int r = 0; r < world; ++r) max_size = std::max(max_size, sizes[r].item<int64_t>());
  const int64_t words = std::max<int64_t>(1, (max_size + 7) / 8);
  at::Tensor mine = at::zeros({words}, at::kLong);
  std::memcpy(mine.data_ptr<int64_t>(), local.data(), local.size());
  at::Tensor all = at::zeros({world * words}, at::kLong);
  MEMR1_RETURN_IF_ERROR(comm.AllGather(mine, all));
  std::vector<std::string> out(world);
  const char* base = reinterpret_cast<const char*>(all.data_ptr<int64_t>());
  for (int r = 0; r < world; ++r) {
    out[r].assign(base + r * words * 8, static_cast<size_t>(sizes[r].item<int64_t>()));
  }
  return out;
}

std::map<std::string, double> MetricsMap(const learner::StepMetrics& m) {
  return {{"loss", m.loss},
          {"policy_loss", m.policy_loss},
          {"value_loss", m.value_loss},
          {"kl", m.kl},
          {"entropy", m.entropy},
          {"clip_fraction", m.clip_fraction},
          {"reward_mean", m.reward_mean},
          {"advantage_std", m.advantage_std},
          {"grad_norm", m.grad_norm},
          {"lr", m.lr},
          {"tokens", static_cast<double>(m.tokens)},
          {"degenerate_groups", static_cast<double>(m.degenerate_groups)},
          {"seconds", m.seconds},
          {"tokens_per_second", m.tokens_per_second}};
}

class LearnerRole {
 public:
  LearnerRole(const LearnerRoleOptions& options, ShutdownSignal* shutdown)
      : options_(options), shutdown_(shutdown) {}
  ~LearnerRole() { Close(); }

  absl::Status Run();

 private:
  absl::Status Register();
  // Re-registers when the coordinator lost the lease (it restarted).
  absl::Status KeepLease();
  absl::StatusOr<v1::StepUnitsResponse> AwaitStep(int64_t step);
  absl::Status Publish(int64_t version, const std::string& bytes,
                       const std::map<std::string, double>& metrics,
                       const std::string& checkpoint_dir);
  absl::Status Stopped();
  void Close();

  const LearnerRoleOptions& options_;
  ShutdownSignal* const shutdown_;
  v1::JobConfig config_;
  std::unique_ptr<learner::Communicator> comm_;
  int rank_ = 0;
  std::unique_ptr<learner::IngestBuffer> buffer_;
  std::unique_ptr<learner::TrajectoryIngestService> ingest_;
  std::unique_ptr<learner::WeightPublisher> publisher_;
  std::unique_ptr<learner::WeightsService> weights_;
  // learner.weight_sync = NCCL_BROADCAST (rank 0): the group's ranks and its sending side.
  std::unique_ptr<learner::BroadcastGroupRegistry> broadcast_group_;
  std::unique_ptr<learner::WeightBroadcaster> broadcaster_;
  StartedGrpcServer server_;
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<coordinator::CoordinatorClient> client_;
  std::unique_ptr<coordinator::Heartbeater> heartbeater_;
  std::string lease_id_;
  std::string address_;
  std::atomic<int64_t> open_step_{0};
  absl::Duration idle_ = absl::ZeroDuration();
  absl::Time started_ = absl::Now();
};

absl::Status LearnerRole::Register() {
  v1::RegisterRequest request;
  request.set_role(v1::ROLE_KIND_LEARNER);
  request.set_role_id(absl::StrCat("learner-", rank_));
  request.set_address(address_);
  request.set_rank(rank_);
  MEMR1_ASSIGN_OR_RETURN(const v1::RegisterResponse response, client_->Register(request));
  if (heartbeater_ != nullptr) heartbeater_->Close();
  lease_id_ = response.lease_id();
  heartbeater_ = std::make_unique<coordinator::Heartbeater>(
      client_.get(), lease_id_,
      absl::Milliseconds(std::max<int64_t>(100, response.heartbeat_interval_ms())));
  MEMR1_LOG(INFO) << "learner rank " << rank_ << " registered (lease " << lease_id_
                  << ", ingest on " << address_ << ")";
  return absl::OkStatus();
}

absl::Status LearnerRole::KeepLease() {
  if (heartbeater_ != nullptr && heartbeater_->lease_lost()) {
    MEMR1_LOG(WARNING) << "learner rank " << rank_ << ": lease lost (coordinator restarted?); "
                       << "registering again";
    return Register();
  }
  return absl::OkStatus();
}

absl::Status LearnerRole::Stopped() {
  if (shutdown_ != nullptr && shutdown_->requested()) {
    return absl::CancelledError(absl::StrCat("learner rank ", rank_, ": shutdown requested"));
  }
  if (heartbeater_ != nullptr && heartbeater_->stop()) {
    auto latest = heartbeater_->latest();
    if (latest.has_value() && latest->phase() == v1::JOB_PHASE_DONE) return absl::OkStatus();
    return absl::AbortedError(absl::StrCat("learner rank ", rank_,
                                           ": the coordinator stopped the job"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::StepUnitsResponse> LearnerRole::AwaitStep(int64_t step) {
  const absl::Time deadline = absl::Now() + options_.step_timeout;
  const absl::Time waiting_since = absl::Now();
  while (true) {
    MEMR1_RETURN_IF_ERROR(KeepLease());
    v1::StepUnitsRequest request;
    request.set_lease_id(lease_id_);
    request.set_step(step);
    request.set_rank(rank_);
    auto response = client_->StepUnits(request);
    if (response.ok()) {
      if (response->stop()) {
        return absl::AbortedError(absl::StrCat("learner rank ", rank_,
                                               ": the coordinator stopped the job at step ", step));
      }
      if (response->complete()) {
        idle_ += absl::Now() - waiting_since;
        return response;
      }
    } else if (response.status().code() == absl::StatusCode::kNotFound) {
      MEMR1_RETURN_IF_ERROR(Register());
    } else if (response.status().code() != absl::StatusCode::kUnavailable &&
               response.status().code() != absl::StatusCode::kDeadlineExceeded) {
      return response.status();
    }
    MEMR1_RETURN_IF_ERROR(Stopped());
    if (heartbeater_->stop()) {
      return absl::AbortedError(absl::StrCat("learner rank ", rank_, ": stopped at step ", step));
    }
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("learner rank ", rank_, ": step ", step, " did not complete within ",
                       absl::FormatDuration(options_.step_timeout)));
    }
    const double idle = absl::FDivDuration(idle_ + (absl::Now() - waiting_since),
                                           absl::Now() - started_);
    heartbeater_->Report(step, "", {{"idle_fraction", idle}, {"step", static_cast<double>(step)}});
    if (shutdown_ != nullptr) {
      shutdown_->WaitFor(options_.poll_interval);
    } else {
      absl::SleepFor(options_.poll_interval);
    }
  }
}

absl::Status LearnerRole::Publish(int64_t version, const std::string& bytes,
                                  const std::map<std::string, double>& metrics,
                                  const std::string& checkpoint_dir) {
  if (publisher_->newest_version() < version) {
    MEMR1_RETURN_IF_ERROR(publisher_->Publish(version, bytes));
    if (broadcaster_ != nullptr) {
      MEMR1_ASSIGN_OR_RETURN(auto published, publisher_->Get(version));
      broadcaster_->Offer(std::move(published));
    }
  }
  MEMR1_ASSIGN_OR_RETURN(const v1::WeightManifest manifest, publisher_->GetManifest(version));
  v1::PublishVersionRequest request;
  request.set_version(version);
  request.set_content_hash(manifest.content_hash());
  for (const auto& [key, value] : metrics) (*request.mutable_metrics())[key] = value;
  request.set_checkpoint_dir(checkpoint_dir);
  // Bounded retries across a coordinator restart (the call is idempotent).
  absl::Status status;
  for (int attempt = 0; attempt < 60; ++attempt) {
    MEMR1_RETURN_IF_ERROR(KeepLease());
    request.set_lease_id(lease_id_);
    status = client_->PublishVersion(request);
    if (status.ok()) {
      MEMR1_LOG(INFO) << "learner: published version " << version << " (sha256 "
                      << manifest.content_hash() << ")";
      return absl::OkStatus();
    }
    if (status.code() == absl::StatusCode::kNotFound) {
      MEMR1_RETURN_IF_ERROR(Register());
    } else if (status.code() != absl::StatusCode::kUnavailable &&
               status.code() != absl::StatusCode::kDeadlineExceeded) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(500));
  }
  return Annotate(status, absl::StrCat("publishing version ", version));
}

void LearnerRole::Close() {
  broadcaster_.reset();  // closes the broadcast group: the actors' receivers end
  if (heartbeater_ != nullptr) heartbeater_->Close();
  if (ingest_ != nullptr) ingest_->Close();
  if (buffer_ != nullptr) buffer_->Close();
  if (server_.server != nullptr) {
    server_.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    server_.server.reset();
  }
  if (metrics_server_ != nullptr) metrics_server_->Close();
}

absl::Status LearnerRole::Run() {
  MEMR1_ASSIGN_OR_RETURN(config_, LoadJobConfig(options_.config_path, options_.overrides));
  const v1::LearnerConfig& l = config_.learner();
  const int processes = LaunchedProcesses();
  if (processes != l.num_ranks()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "learner.num_ranks is ", l.num_ranks(), " but ", processes,
        " process(es) were launched (run with mpirun -np ", l.num_ranks(), ")"));
  }
  const std::string kind =
      processes == 1 ? "single" : (l.communicator() == v1::LearnerConfig::NCCL ? "nccl" : "mpi");
  MEMR1_ASSIGN_OR_RETURN(comm_, learner::MakeCommunicator(kind));
  rank_ = comm_->rank();
  SetLogContext("learner", rank_);
  const bool leader = rank_ == 0;
  const int world = comm_->world_size();

  MEMR1_ASSIGN_OR_RETURN(learner::TrainerModels models, learner::LoadTrainerModels(config_));
  const int64_t vocab = models.policy->config().vocab_size;
  MEMR1_ASSIGN_OR_RETURN(auto trainer,
                         learner::Trainer::Create(config_, std::move(models), comm_.get()));
  const fs::path output(config_.output_dir());
  learner::CheckpointManager checkpoints((output / "checkpoints").string(), comm_.get());
  if (options_.resume) {
    auto latest = checkpoints.LoadLatest();
    if (latest.ok()) {
      MEMR1_RETURN_IF_ERROR(trainer->Restore(*latest).status());
      MEMR1_LOG(INFO) << "learner rank " << rank_ << ": resumed from step " << trainer->steps();
    } else if (latest.status().code() != absl::StatusCode::kNotFound) {
      return latest.status();
    }
  }
  open_step_ = trainer->steps();

  // Ingest (every rank) and weights (rank 0) on one server.
  const bool async = config_.coordinator().mode() == v1::CoordinatorConfig::ASYNC;
  const int64_t staleness = config_.coordinator().max_staleness();
  learner::IngestOptions ingest_options;
  ingest_options.vocab_size = vocab;
  if (l.algorithm() == v1::LearnerConfig::SFT) {
    ingest_options.behaviour_logprobs = learner::BehaviourLogprobs::kOptional;
  }
  ingest_options.job_token = config_.job_token();
  ingest_options.max_trajectories =
      std::max<int64_t>(ingest_options.max_trajectories, 4 * l.global_batch_size() * (staleness + 2));
  ingest_options.version_rule = [async, staleness](int64_t step, int64_t version) {
    if (async ? version >= step - staleness && version <= step + staleness : version == step) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "version ", version, " for step ", step,
        async ? absl::StrCat(" (asynchronous: at least ", step - staleness, ")")
              : " (synchronous: must equal the step)"));
  };
  const int rank = rank_;
  ingest_options.unit_rule = [this, rank, world](const std::string& unit_id, int64_t step) {
    int64_t s = 0, index = 0;
    if (!ParseUnitId(unit_id, &s, &index) || s != step) {
      return absl::InvalidArgumentError(absl::StrCat("unit id '", unit_id, "' of step ", step));
    }
    if (index % world != rank) {
      return absl::InvalidArgumentError(
          absl::StrCat("unit ", unit_id, " belongs to rank ", index % world, ", not ", rank));
    }
    if (step < open_step_.load()) {
      return absl::InvalidArgumentError(absl::StrCat("step ", step, " is already trained"));
    }
    return absl::OkStatus();
  };
  MEMR1_RETURN_IF_ERROR(ingest_options.Validate());
  buffer_ = std::make_unique<learner::IngestBuffer>(ingest_options);
  ingest_ = std::make_unique<learner::TrajectoryIngestService>(buffer_.get(), config_.job_token());
  GrpcServerOptions grpc_options;
  grpc_options.address = l.listen();
  grpc_options.services = {ingest_.get()};
  if (leader) {
    publisher_ = std::make_unique<learner::WeightPublisher>();
    weights_ = std::make_unique<learner::WeightsService>(publisher_.get(), config_.job_token());
    if (l.weight_sync() == v1::LearnerConfig::NCCL_BROADCAST) {
      // Every actor joins one group with rank 0; the group forms in the background while the
      // gRPC fetch serves anyone who does not (or cannot) join.
      MEMR1_ASSIGN_OR_RETURN(const int device,
                             learner::BroadcastDeviceIndex(config_.model().device()));
      MEMR1_ASSIGN_OR_RETURN(std::string group_id, learner::NewNcclGroupId());
      const int actors = config_.actor().num_actors();
      broadcast_group_ = std::make_unique<learner::BroadcastGroupRegistry>(group_id, actors);
      weights_->set_broadcast_group(broadcast_group_.get());
      broadcaster_ = std::make_unique<learner::WeightBroadcaster>(
          learner::NcclGroupJoiner(comm_->device().is_cuda() ? comm_->device().index() : device),
          std::move(group_id), actors + 1, options_.broadcast_join_timeout);
    }
    grpc_options.services.push_back(weights_.get());
  }
  MEMR1_ASSIGN_OR_RETURN(server_, StartGrpcServer(grpc_options));
  address_ = server_.address;
  if (!config_.observability().metrics_listen().empty()) {
    MEMR1_ASSIGN_OR_RETURN(metrics_server_,
                           MetricsServer::Start(config_.observability().metrics_listen(),
                                                &MetricsRegistry::Default()));
    MEMR1_LOG(INFO) << "learner rank " << rank_ << ": Prometheus metrics on http://"
                    << metrics_server_->address() << "/metrics";
  }

  coordinator::ClientOptions client_options;
  client_options.address = options_.coordinator;
  client_options.job_token = config_.job_token();
  client_options.wait_for_ready = true;  // a restarted coordinator is a pause
  MEMR1_ASSIGN_OR_RETURN(client_, coordinator::CoordinatorClient::Connect(client_options));
  MEMR1_RETURN_IF_ERROR(Register());

  std::error_code ec;
  fs::create_directories(output / "metrics", ec);
  std::ofstream rank_metrics(output / "metrics" / absl::StrCat("learner-rank-", rank_, ".jsonl"),
                             std::ios::app);
  std::ofstream step_metrics;
  if (leader) step_metrics.open(output / "metrics" / "learner.jsonl", std::ios::app);
  if (!rank_metrics || (leader && !step_metrics)) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot write metrics under ", (output / "metrics").string()));
  }

  auto serialize = [&]() -> absl::StatusOr<std::string> {
    return llm::SerializeCausalLMWeights(trainer->policy());
  };
  if (leader) {
    MEMR1_ASSIGN_OR_RETURN(const std::string bytes, serialize());
    MEMR1_RETURN_IF_ERROR(Publish(trainer->steps(), bytes, {}, ""));
  }

  const std::string config_yaml = MessageToYaml(config_);
  const int64_t total = l.total_steps();
  // The idle fraction (waiting for accepted units and their trajectories) counts from here:
  // loading the model and the checkpoint is start-up.
  started_ = absl::Now();
  idle_ = absl::ZeroDuration();
  while (trainer->steps() < total) {
    const int64_t step = trainer->steps();
    MEMR1_ASSIGN_OR_RETURN(const v1::StepUnitsResponse units, AwaitStep(step));
    std::vector<learner::UnitAttempt> accepted;
    for (const v1::AcceptedUnit& unit : units.units()) {
      accepted.push_back({unit.unit_id(), unit.attempt()});
    }
    const absl::Time take_started = absl::Now();
    MEMR1_ASSIGN_OR_RETURN(std::vector<v1::Trajectory> mine,
                           buffer_->Take(accepted, options_.step_timeout));
    idle_ += absl::Now() - take_started;
    // Frame this rank's units (Take returns them in `accepted` order, each unit's in arrival
    // order) so that every rank can rebuild the global batch in unit order.
    std::string local;
    size_t at = 0;
    for (const v1::AcceptedUnit& unit : units.units()) {
      v1::TrajectoryBatch batch;
      batch.set_unit_id(unit.unit_id());
      batch.set_attempt(unit.attempt());
      for (int k = 0; k < unit.trajectories() && at < mine.size(); ++k) {
        *batch.add_trajectories() = std::move(mine[at++]);
      }
      if (batch.trajectories_size() != unit.trajectories()) {
        return absl::DataLossError(absl::StrCat(
            "learner rank ", rank_, ": unit ", unit.unit_id(), " attempt ", unit.attempt(),
            " was accepted with ", unit.trajectories(), " trajectories but ",
            batch.trajectories_size(), " arrived"));
      }
      AppendFramed(batch, &local);
    }
    MEMR1_ASSIGN_OR_RETURN(const std::vector<std::string> parts, AllGatherBytes(*comm_, local));
    std::map<int64_t, v1::TrajectoryBatch> by_index;
    for (const std::string& part : parts) {
      std::vector<v1::TrajectoryBatch> batches;
      MEMR1_RETURN_IF_ERROR(Annotate(ParseFramed(part, &batches), "gathering the global batch"));
      for (v1::TrajectoryBatch& batch : batches) {
        int64_t s = 0, index = 0;
        if (!ParseUnitId(batch.unit_id(), &s, &index)) {
          return absl::DataLossError(absl::StrCat("bad unit id ", batch.unit_id()));
        }
        by_index[index] = std::move(batch);
      }
    }
    std::vector<v1::Trajectory> global;
    for (auto& [index, batch] : by_index) {
      for (v1::Trajectory& trajectory : *batch.mutable_trajectories()) {
        global.push_back(std::move(trajectory));
      }
    }
    if (static_cast<int64_t>(global.size()) != l.global_batch_size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "step ", step, ": the accepted units hold ", global.size(),
          " trajectories, but learner.global_batch_size is ", l.global_batch_size(),
          " (an episode that yielded no trajectories? MM turns without facts)"));
    }
    MEMR1_ASSIGN_OR_RETURN(const learner::StepMetrics metrics, trainer->Step(global));
    open_step_ = trainer->steps();
    buffer_->DropStep(step);

    std::string checkpoint_dir;
    if (units.checkpoint() || trainer->steps() == total) {
      const std::string state = nlohmann::json{{"step", trainer->steps()}}.dump();
      MEMR1_ASSIGN_OR_RETURN(checkpoint_dir, trainer->Save(checkpoints, config_yaml, state));
      MEMR1_LOG(INFO) << "learner rank " << rank_ << ": checkpoint " << checkpoint_dir;
    }
    MEMR1_ASSIGN_OR_RETURN(const std::string bytes, serialize());
    const std::string params_hash = learner::Sha256Hex(bytes);
    rank_metrics << nlohmann::json{{"step", trainer->steps()}, {"params_sha256", params_hash}}.dump()
                 << "\n";
    rank_metrics.flush();
    MEMR1_LOG(INFO) << "learner rank " << rank_ << ": step " << trainer->steps() << "/" << total
                    << " params sha256 " << params_hash;
    if (leader) {
      step_metrics << metrics.ToJson() << "\n";
      step_metrics.flush();
      MEMR1_RETURN_IF_ERROR(Publish(trainer->steps(), bytes, MetricsMap(metrics), checkpoint_dir));
    }
    heartbeater_->Report(trainer->steps(), "",
                         {{"idle_fraction", absl::FDivDuration(idle_, absl::Now() - started_)},
                          {"step", static_cast<double>(trainer->steps())}});
    MEMR1_RETURN_IF_ERROR(Stopped());
  }
  MEMR1_LOG(INFO) << "learner rank " << rank_ << ": all " << total << " steps trained";
  // Every rank leaves together, so rank 0 keeps serving weights until the others are done.
  MEMR1_RETURN_IF_ERROR(comm_->Barrier());
  return absl::OkStatus();
}

}  // namespace

absl::Status RunLearnerRole(const LearnerRoleOptions& options, ShutdownSignal* shutdown) {
  LearnerRole role(options, shutdown);
  absl::Status status = role.Run();
  return status;
}

}  // namespace memr1::job
