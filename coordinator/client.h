#pragma once

// CoordinatorClient: the roles' side of the Coordinator service. Every call has a deadline and
// carries the job token; errors come back as absl::Status naming the coordinator's address and
// the method. Heartbeater: a thread that keeps a role's lease alive.
//
// Thread safety: CoordinatorClient is thread safe (gRPC stubs are). Heartbeater is thread safe;
// Close() is idempotent and joins its thread.

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/grpc_util.h"
#include "memr1/v1/coordinator.grpc.pb.h"

namespace memr1::coordinator {

// "starting", "running", "checkpointing", "done", "failed" ("unknown" otherwise): how logs,
// progress lines and `memr1 status` name a phase.
const char* JobPhaseName(v1::JobPhase phase);

struct ClientOptions {
  std::string address;
  std::string job_token;
  absl::Duration timeout = absl::Seconds(10);
  ChannelOptions channel;
  // Calls wait (up to `timeout`) for an unreachable coordinator to come back instead of failing
  // at once with Unavailable: the job's roles set it so that a coordinator restarted by the
  // launcher costs them a pause, not an error; interactive tools (`memr1 status`) leave it off.
  bool wait_for_ready = false;
};

class CoordinatorClient {
 public:
  // A client over a channel to options.address.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Connect(ClientOptions options);
  // Over any stub (tests script failures with a mock StubInterface).
  CoordinatorClient(std::unique_ptr<v1::Coordinator::StubInterface> stub, ClientOptions options);

  absl::StatusOr<v1::RegisterResponse> Register(const v1::RegisterRequest& request);
  absl::StatusOr<v1::HeartbeatResponse> Heartbeat(const v1::HeartbeatRequest& request);
  absl::StatusOr<v1::LeaseWorkResponse> LeaseWork(const v1::LeaseWorkRequest& request);
  absl::StatusOr<v1::CompleteWorkResponse> CompleteWork(const v1::CompleteWorkRequest& request);
  absl::StatusOr<v1::StepUnitsResponse> StepUnits(const v1::StepUnitsRequest& request);
  absl::Status PublishVersion(const v1::PublishVersionRequest& request);
  absl::StatusOr<v1::StatusResponse> Status();
  // The step after which the learners checkpoint (RequestCheckpoint).
  absl::StatusOr<int64_t> RequestCheckpoint(const std::string& reason);
  absl::Status Shutdown(const std::string& reason);

  const std::string& address() const { return options_.address; }

 private:
  template <typename Request, typename Response, typename Method>
  absl::StatusOr<Response> Call(const char* name, Method method, const Request& request);

  std::unique_ptr<v1::Coordinator::StubInterface> stub_;
  ClientOptions options_;
};

// Sends Heartbeat for `lease_id` every `interval` until Close(). The role sets what it reports
// (version, hash, gauges) with Report(); latest() is the newest response; stop() turns true when
// the coordinator says stop (job over, lease replaced) or the lease is unknown to it (NotFound:
// the coordinator restarted; the role registers again and starts a new Heartbeater).
class Heartbeater {
 public:
  // `client` is not owned and must outlive the Heartbeater. The first heartbeat is sent at once.
  Heartbeater(CoordinatorClient* client, std::string lease_id, absl::Duration interval);
  ~Heartbeater();
  Heartbeater(const Heartbeater&) = delete;
  Heartbeater& operator=(const Heartbeater&) = delete;

  void Report(int64_t policy_version, const std::string& policy_hash,
              const std::map<std::string, double>& gauges);
  std::optional<v1::HeartbeatResponse> latest() const;
  // Sends the next heartbeat now instead of at the end of the interval (for a caller waiting on
  // what the coordinator tells, e.g. the learners' addresses at start-up).
  void SendNow();
  bool stop() const { return stop_.load(); }
  // True when the coordinator no longer knows the lease (register again).
  bool lease_lost() const { return lease_lost_.load(); }
  // The error of the newest heartbeat (OK when it succeeded).
  absl::Status last_error() const;
  // Heartbeats answered so far.
  int64_t answered() const { return answered_.load(); }
  void Close();

 private:
  void Loop();

  CoordinatorClient* const client_;
  const std::string lease_id_;
  const absl::Duration interval_;
  mutable absl::Mutex mu_;
  v1::HeartbeatRequest report_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::HeartbeatResponse> latest_ ABSL_GUARDED_BY(mu_);
  absl::Status last_error_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool send_now_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> stop_{false};
  std::atomic<bool> lease_lost_{false};
  std::atomic<int64_t> answered_{0};
  std::thread thread_;
};

}  // namespace memr1::coordinator
