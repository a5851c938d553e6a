#pragma once

// CoordinatorServer: one coordinator process's worth of parts — the JobState on its RocksDB
// state directory, the Coordinator gRPC service, and a ticker thread that expires leases even
// when no call arrives (so a lost learner fails the job on time). `memr1 coordinator` runs one;
// tests run it in-process on 127.0.0.1:0.
//
// Thread safety: thread safe. Close() is idempotent; the destructor calls it.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "coordinator/episode_stream.h"
#include "coordinator/job_state.h"
#include "memr1/v1/config.pb.h"

namespace memr1::coordinator {

class CoordinatorService;

struct ServerOptions {
  JobOptions job;
  // The job's episodes (required).
  std::unique_ptr<EpisodeStream> episodes;
  // RocksDB directory of the job state (required).
  std::string state_dir;
  // host:port; port 0 lets the OS pick (see address()).
  std::string listen = "127.0.0.1:0";
  // Empty accepts every caller.
  std::string job_token;
  v1::TlsConfig tls;
  // How often leases are expired without a call.
  absl::Duration tick_interval = absl::Milliseconds(500);
};

// The coordinator's state directory of a job: coordinator.state_dir, or <output_dir>/coordinator.
std::string JobStateDir(const v1::JobConfig& config);

// FailedPrecondition when the job's state directory already holds a job and `resume` is false:
// a second run into the same output_dir would mix two jobs ("pass --resume to continue it").
absl::Status CheckNewJob(const v1::JobConfig& config, bool resume);

// From a job config: JobOptions::FromConfig, the episode stream of the train split
// (EpisodeStream::FromConfig), state_dir = coordinator.state_dir or <output_dir>/coordinator,
// listen = coordinator.listen and the job token (TLS: off; the config has no coordinator TLS section yet).
absl::StatusOr<ServerOptions> ServerOptionsFromConfig(const v1::JobConfig& config);

class CoordinatorServer {
 public:
  // Opens the state and starts serving. Errors: those of StateStore::Open, JobState::Open and
  // StartGrpcServer.
  static absl::StatusOr<std::unique_ptr<CoordinatorServer>> Start(ServerOptions options);
  ~CoordinatorServer();
  CoordinatorServer(const CoordinatorServer&) = delete;
  CoordinatorServer& operator=(const CoordinatorServer&) = delete;

  const std::string& address() const { return address_; }
  // The job's status now (expires leases first); valid until Close().
  v1::StatusResponse Snapshot();
  // Stops accepting calls, finishes running ones (up to 5 s), stops the ticker and closes the
  // state.
  void Close();

 private:
  CoordinatorServer() = default;
  void TickLoop(absl::Duration interval);

  std::unique_ptr<CoordinatorService> service_;
  StartedGrpcServer grpc_;
  std::string address_;
  absl::Notification stop_;
  std::thread ticker_;
  absl::Mutex close_mu_;
  bool closed_ ABSL_GUARDED_BY(close_mu_) = false;
};

}  // namespace memr1::coordinator
